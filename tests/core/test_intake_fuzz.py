"""Property-based fuzzing of intake: whatever the bytes, a file ends as a Submission or a known reason.

Most examples go through `parse_submission_bytes` in memory (fast); one folder-level test writes a
few hundred real files, links, odd names, a sparse giant, a fifo and a directory named like a file.
Each in-memory test counts the examples it checked and fails below MEMORY_EXAMPLES, so the
>= 10,000 total (3 x 3,400 + the folder test's files) is measured, not assumed.
"""

from __future__ import annotations

import copy
import json
import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.core.intake import REASON_PRECEDENCE, parse_folder, parse_submission_bytes
from tests.core.factories import submission_dict

MEMORY_EXAMPLES = 3400  # per in-memory test; three of them
FUZZ = settings(max_examples=MEMORY_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
KNOWN = set(REASON_PRECEDENCE) - {"internal_error"}

# ---- strategies --------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)

PATHOLOGICAL = [
    lambda n: b"[" * n + b"]" * n,
    lambda n: b'{"a":' * n + b"1" + b"}" * n,
    lambda n: b"[" * n,  # deep and unterminated
    lambda n: b'{"submission_id": ' + b"9" * n + b"}",
    lambda n: b'{"x": -' + b"1" * n + b"}",
    lambda n: b'{"x": 1' + b"0" * n + b".5e99999}",
    lambda n: b'{"x": 1e' + b"9" * min(n, 50) + b"}",
    lambda n: b'{"x": NaN, "y": Infinity, "z": -Infinity}',
    lambda n: b'{"a": 1, "a": 2}' * max(1, n // 100),
    lambda n: b"\xef\xbb\xbf" * max(1, n % 4) + b"{}",
    lambda n: b'{"s": "\\ud800\\udfff\\udc00"}',
    lambda n: b'{"s": "' + b"\\" * n + b'"}',
    lambda n: b'"' * n,
    lambda n: b"\xff\xfe{\x00}\x00",
]
pathological = st.builds(lambda f, n: f(n), st.sampled_from(PATHOLOGICAL), st.integers(0, 20000))

HUGE_INT = "<an integer of 5,000 digits>"
PATHS = [("schema_version",), ("submission_id",), ("submitted_at",), ("expert",), ("expert", "id"),
         ("expert", "years_experience"), ("domain",), ("category",), ("language",), ("task",),
         ("task", "scenario"), ("attachments",), ("reference_answer",), ("rubric",), ("rubric", 0),
         ("rubric", 0, "weight"), ("rubric", 1, "id"), ("rubric", 2, "dimension"), ("rubric", 3, "importance"),
         ("rubric", 4, "polarity"), ("review",), ("anchor",), ("source",), ("source", "origin")]
odd_values = st.one_of(
    json_values, st.just(float("nan")), st.just(float("inf")), st.just(HUGE_INT), st.just(-(10**200)),
    st.just("\ud800"), st.just("x" * 10000), st.just({"nested": [[[[[]]]]]}), st.just("2026-13-45T99:00:00Z"),
    st.just("Finance"), st.just(True), st.just([]), st.just({}),
)


def _parent(d: dict, path: tuple):
    """The container holding path[-1] (list indices wrap), or None where the path no longer exists."""
    node = d
    for key in path[:-1]:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and node and isinstance(key, int):
            node = node[key % len(node)]
        else:
            return None
    return node if isinstance(node, (dict, list)) and node != [] else None


def _set(d: dict, path: tuple, value) -> None:
    node, last = _parent(d, path), path[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int):
        node[last % len(node)] = value


def _pop(d: dict, path: tuple) -> None:
    node, last = _parent(d, path), path[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and isinstance(last, int):
        node.pop(last % len(node))


@st.composite
def mutated_submissions(draw) -> bytes:
    d = copy.deepcopy(submission_dict(draw(st.sampled_from(["xb-1", "t-001", "a.b:c-d"]))))
    for _ in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from(PATHS))
        if draw(st.booleans()):
            _set(d, path, copy.deepcopy(draw(odd_values)))  # st.just shares one object between draws
        else:
            _pop(d, path)
    # An int beyond Python's str-digits limit cannot even be written by json.dumps: splice it in.
    text = json.dumps(d, allow_nan=True).replace(json.dumps(HUGE_INT), "7" * 5000)
    data = text.encode("utf-8", "surrogatepass")
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))  # truncated or byte-flipped files too
    if cut is not None and draw(st.booleans()):
        data = data[:cut]
    elif cut is not None and cut < len(data):
        data = data[:cut] + bytes([data[cut] ^ draw(st.integers(1, 255))]) + data[cut + 1:]
    return data


def check(data: bytes, seen: dict[str, int]) -> None:
    r = parse_submission_bytes(data, "fuzz.json", max_bytes=64 * 1024)  # any exception fails the test
    assert (r.submission is None) == (r.reason is not None)
    if r.submission is None:
        assert r.reason in KNOWN, (r.reason, r.message)
        assert r.message and len(r.message) <= 2003
        r.message.encode("utf-8")  # storable text
    else:
        r.submission.model_dump_json()  # an accepted submission can always be stored
        assert all(math.isfinite(c.weight) for c in r.submission.rubric)
    seen[r.reason or "accepted"] = seen.get(r.reason or "accepted", 0) + 1


def fuzz(strategy) -> dict[str, int]:
    """Run `check` on MEMORY_EXAMPLES generated files; returns how many ended with each outcome."""
    seen: dict[str, int] = {}

    @FUZZ
    @given(strategy)
    def run(data):
        check(data, seen)

    run()
    assert sum(seen.values()) >= MEMORY_EXAMPLES, seen  # the example count is measured, not assumed
    return seen


# ---- tests: 3 x 3,400 in memory plus a few hundred on disk = over 10,000 files -------------------


def test_random_bytes_never_raise():
    seen = fuzz(st.binary(max_size=2048))
    assert {"invalid_json", "bad_encoding"} <= set(seen)


def test_mutated_valid_submissions_never_raise():
    seen = fuzz(mutated_submissions())
    assert seen.get("accepted", 0) > 0 and len(seen) >= 8, seen


def test_pathological_json_never_raises():
    seen = fuzz(st.one_of(pathological, json_values.map(lambda v: json.dumps(v).encode())))
    assert {"too_deeply_nested", "number_out_of_range", "duplicate_key", "bad_encoding"} <= set(seen), seen


def test_folder_of_hostile_entries(tmp_path):
    """A few hundred real files through parse_folder: every *.json entry accounted for, none raises."""
    raw, outside = tmp_path / "raw", tmp_path / "outside"
    raw.mkdir()
    outside.mkdir()
    (outside / "o.json").write_text(json.dumps(submission_dict("out")))
    expected = set()
    for i, data in enumerate(PATHOLOGICAL):
        for j in range(20):
            name = f"p{i:02d}_{j:02d}.json"
            (raw / name).write_bytes(data(j * 1000))
            expected.add(name)
    for i in range(60):
        sub = raw / f"d{i % 6}" / ("deep/" * (i % 5))
        sub.mkdir(parents=True, exist_ok=True)
        d = submission_dict(f"xb-{i % 40}", when=None if i % 3 == 0 else f"2026-01-{1 + i % 28:02d}T00:00:00Z")
        (sub / f"s{i}.json").write_text(json.dumps(d))
        expected.add((sub / f"s{i}.json").relative_to(raw).as_posix())
    (raw / os.fsdecode(b"\xff\xfe.json")).write_text("{}")
    (raw / "tab\there.json").write_text("{}")
    (raw / "escape.json").symlink_to(outside / "o.json")
    (raw / "dangling.json").symlink_to(raw / "missing.json")
    (raw / "dir.json").mkdir()
    os.mkfifo(raw / "fifo.json")
    with open(raw / "sparse.json", "wb") as fh:
        fh.truncate(1 << 33)
    expected |= {"\\xff\\xfe.json", "tab\\x09here.json", "escape.json", "dangling.json", "dir.json", "fifo.json",
                 "sparse.json"}
    results = parse_folder(raw, max_bytes=64 * 1024)
    got = {r.path: r for r in results}
    assert set(got) == expected and len(results) == len(expected) >= 300
    assert all((r.submission is None) == (r.reason in KNOWN) for r in results)
    assert {got[p].reason for p in ("\\xff\\xfe.json", "escape.json", "dangling.json", "dir.json", "fifo.json",
                                    "sparse.json")} == {
        "bad_file_name", "symlink_outside_raw", "broken_symlink", "not_a_regular_file", "file_too_large"}
    accepted_ids = [r.submission.submission_id for r in results if r.submission]
    assert len(accepted_ids) == len(set(accepted_ids)) == 40
