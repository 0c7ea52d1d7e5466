"""The raw folder as an operator leaves it: odd names, links, file types, sizes, pathological JSON."""

import json
import os
import sys

import pytest

from pipelines.core import raw_folder
from pipelines.core.intake import REASON_PRECEDENCE, folder_fingerprint, parse_folder, parse_submission_bytes
from tests.core.factories import submission_dict


def write(path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(obj if isinstance(obj, bytes) else json.dumps(obj).encode())


def reasons(root, **kw) -> dict[str, str | None]:
    return {r.path: r.reason for r in parse_folder(root, **kw)}


@pytest.mark.parametrize("data, reason", [
    (b"[" * 100_000 + b"]" * 100_000, "too_deeply_nested"),
    (b'{"a": ' + b"[" * 5000, "too_deeply_nested"),
    (b'{"rubric": [{"weight": ' + b"9" * 5000 + b"}]}", "number_out_of_range"),
    (b'{"a": 1, "a": 2}', "duplicate_key"),
    (b'{"submission_id": "\\ud800"}', "bad_encoding"),
])
def test_pathological_json_is_quarantined_not_raised(data, reason):
    r = parse_submission_bytes(data, "x.json", max_bytes=10**6)
    assert r.reason == reason and r.message


def test_a_lone_surrogate_inside_an_otherwise_valid_submission_is_not_accepted():
    d = submission_dict()
    d["rubric"][0]["criterion"] = "caf\ud800"
    data = json.dumps(d).encode()  # ensure_ascii writes the surrogate as a \ud800 escape
    assert parse_submission_bytes(data, "x.json").reason == "bad_encoding"


def test_deep_nesting_is_refused_at_any_stack_depth():
    """The depth check does not depend on how much stack the caller has left."""
    def at_depth(n):
        return parse_submission_bytes(b"[" * 200 + b"]" * 200, "x.json").reason if n == 0 else at_depth(n - 1)
    assert at_depth(sys.getrecursionlimit() - 100) == "too_deeply_nested"


def test_bad_name_is_quarantined_with_an_escaped_name(tmp_path):
    write(tmp_path / os.fsdecode(b"caf\xe9.json"), submission_dict("a"))
    write(tmp_path / "new\nline.json", submission_dict("b"))
    got = parse_folder(tmp_path)
    assert {(r.path, r.reason) for r in got} == {("caf\\xe9.json", "bad_file_name"),
                                                 ("new\\x0aline.json", "bad_file_name")}
    assert all(r.path.encode("utf-8") and r.message for r in got)


def test_symlink_outside_the_raw_folder_is_quarantined_inside_is_read(tmp_path):
    raw, outside = tmp_path / "raw", tmp_path / "elsewhere"
    write(outside / "secret.json", submission_dict("out"))
    write(raw / "real.json", submission_dict("in"))
    (raw / "escape.json").symlink_to(outside / "secret.json")
    (raw / "sub").mkdir()
    (raw / "sub" / "alias.json").symlink_to(raw / "real.json")
    (raw / "dangling.json").symlink_to(raw / "nothing.json")
    (raw / "loop.json").symlink_to(raw / "loop.json")
    (raw / "linked_dir").symlink_to(outside, target_is_directory=True)
    (raw / "inner_dir").symlink_to(raw / "sub", target_is_directory=True)
    assert reasons(raw) == {
        "real.json": None, "escape.json": "symlink_outside_raw", "sub/alias.json": "duplicate_submission_id",
        "dangling.json": "broken_symlink", "loop.json": "broken_symlink", "linked_dir": "symlink_outside_raw",
        "inner_dir": "not_a_regular_file",
    }


def test_large_file_is_refused_from_its_size_without_reading_it(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:  # sparse: 50 MB that costs no disk, and reading it would be the bug
        fh.truncate(50 * 1024 * 1024)
    os.chmod(big, 0)  # unreadable as well: only stat can tell its size
    try:
        (r,) = parse_folder(tmp_path, max_bytes=1000)
    finally:
        os.chmod(big, 0o600)
    assert r.reason == "file_too_large" and "52428800 bytes" in r.message and r.sha256 == ""


def test_other_entry_types_each_get_a_reason(tmp_path):
    (tmp_path / "folder.json").mkdir()
    write(tmp_path / "folder.json" / "inside.json", submission_dict("inside"))
    os.mkfifo(tmp_path / "pipe.json")
    write(tmp_path / "locked.json", submission_dict("locked"))
    os.chmod(tmp_path / "locked.json", 0)
    (tmp_path / "notes.txt").write_text("not a submission")
    write(tmp_path / "UPPER.JSON", submission_dict("upper"))
    try:
        got = reasons(tmp_path)  # a fifo opened for reading would hang here
    finally:
        os.chmod(tmp_path / "locked.json", 0o600)
    assert got["folder.json"] == "not_a_regular_file" and got["folder.json/inside.json"] is None
    assert got["pipe.json"] == "not_a_regular_file" and got["UPPER.JSON"] is None
    assert got["locked.json"] == ("unreadable" if os.geteuid() != 0 else None)
    assert "notes.txt" not in got
    assert set(got.values()) - {None} <= set(REASON_PRECEDENCE)


def test_a_file_that_vanishes_after_listing_is_unreadable(tmp_path, monkeypatch):
    write(tmp_path / "gone.json", submission_dict("gone"))
    write(tmp_path / "stays.json", submission_dict("stays"))
    real_walk = raw_folder._walk

    def walk_then_delete(root):  # the file disappears between the listing and the read
        for rel, entry, err in real_walk(root):
            if rel == b"gone.json":
                os.unlink(os.path.join(root, rel))
            yield rel, entry, err

    monkeypatch.setattr(raw_folder, "_walk", walk_then_delete)
    got = {r.path: r for r in parse_folder(tmp_path)}
    assert got["gone.json"].reason == "unreadable" and "No such file" in got["gone.json"].message
    assert got["stays.json"].submission is not None


def test_deep_folders_do_not_exhaust_the_stack(tmp_path):
    d = tmp_path
    for _ in range(300):
        d = d / "d"
    d.mkdir(parents=True)
    write(d / "deep.json", submission_dict("deep"))
    (r,) = parse_folder(tmp_path)
    assert r.submission is not None and r.path.count("/") == 300


def test_fingerprint_never_raises_never_follows_links_and_tracks_content(tmp_path):
    write(tmp_path / "a.json", submission_dict("a"))
    write(tmp_path / os.fsdecode(b"\xff.json"), b"{}")
    os.mkfifo(tmp_path / "pipe.json")  # would hang if opened
    (tmp_path / "out.json").symlink_to("/etc/hostname")
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    with open(tmp_path / "huge.bin", "wb") as fh:
        fh.truncate(1 << 34)  # 16 GiB sparse: hashed by size and mtime, not read
    f1 = folder_fingerprint(tmp_path)
    assert folder_fingerprint(tmp_path) == f1
    write(tmp_path / "a.json", submission_dict("a", when="2026-02-02T00:00:00Z"))
    assert folder_fingerprint(tmp_path) != f1


# ---- identity: who owns a submission id ------------------------------------------------------


@pytest.mark.parametrize("genuine_name, hijack_name", [("z_genuine.json", "a_hijack.json"),
                                                      ("a_genuine.json", "z_hijack.json")])
def test_untimed_file_cannot_hijack_an_id(tmp_path, genuine_name, hijack_name):
    genuine = submission_dict("xb-1", when="2026-03-01T00:00:00Z")
    write(tmp_path / genuine_name, genuine)
    write(tmp_path / "other.json", submission_dict("xb-2"))
    before = {r.path: r.submission for r in parse_folder(tmp_path)}
    hijack = submission_dict("xb-1", topic="takeover")
    del hijack["submitted_at"]
    write(tmp_path / hijack_name, hijack)  # added later, with no timestamp, sorting before or after
    after = {r.path: r for r in parse_folder(tmp_path)}
    assert after[genuine_name].submission == before[genuine_name]  # same accepted content, field by field
    assert after["other.json"].submission == before["other.json"]
    lost = after[hijack_name]
    assert lost.reason == "duplicate_submission_id" and lost.submission is None
    assert hijack_name in lost.message and genuine_name in lost.message and "has none" in lost.message


def test_two_untimed_files_resolve_by_content_and_the_message_names_both(tmp_path):
    one, two = submission_dict("xb-1", topic="one"), submission_dict("xb-1", topic="two")
    del one["submitted_at"], two["submitted_at"]
    write(tmp_path / "one.json", one)
    write(tmp_path / "two.json", two)
    got = parse_folder(tmp_path)
    (lost,) = [r for r in got if r.submission is None]
    (won,) = [r for r in got if r.submission is not None]
    assert won.sha256 < lost.sha256
    assert "one.json" in lost.message and "two.json" in lost.message and "neither has a submitted_at" in lost.message


def test_earlier_timestamp_wins_whatever_the_names(tmp_path):
    for first, second in (("a.json", "b.json"), ("b.json", "a.json")):
        root = tmp_path / first
        write(root / first, submission_dict("xb-1", when="2026-01-01T00:00:00+05:00", topic="early"))
        write(root / second, submission_dict("xb-1", when="2026-01-01T00:00:00Z", topic="late"))
        got = {r.path: r for r in parse_folder(root)}
        assert got[first].submission is not None and got[first].submission.task.scenario.count("early")
        assert got[second].reason == "duplicate_submission_id"
        assert first in got[second].message and second in got[second].message


def test_ties_are_settled_by_content_not_by_name(tmp_path):
    one = submission_dict("xb-1", topic="one")
    two = submission_dict("xb-1", topic="two")
    winners = set()
    for names in (("a.json", "b.json"), ("b.json", "a.json")):
        root = tmp_path / names[0]
        write(root / names[0], one)
        write(root / names[1], two)
        winners.add(next(r.submission.task.scenario for r in parse_folder(root) if r.submission))
    assert len(winners) == 1
