import json
import math

import pytest

from pipelines.core.intake import folder_fingerprint, parse_folder, parse_submission_bytes
from pipelines.core.submission import Submission, write_json_schema
from tests.core.factories import submission_dict


def parse(obj) -> tuple[str | None, str | None]:
    data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    r = parse_submission_bytes(data, "x.json", max_bytes=100_000)
    return r.reason, r.message


def test_valid_submission_parses():
    r = parse_submission_bytes(json.dumps(submission_dict()).encode(), "a.json")
    assert r.submission is not None and r.reason is None
    assert len(r.sha256) == 64


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda d: d.pop("expert"), "missing_field"),
        (lambda d: d.update(expert="someone"), "wrong_type"),
        (lambda d: d.update(domain="Astrology"), "unknown_domain"),
        (lambda d: d["rubric"][0].update(weight=11), "invalid_weight"),
        (lambda d: d["rubric"][0].update(weight=0), "invalid_weight"),
        (lambda d: d["rubric"][0].update(weight="ten"), "invalid_weight"),
        (lambda d: d["rubric"][0].update(weight=True), "invalid_weight"),
        (lambda d: d["rubric"][1].update(id="c01"), "duplicate_checkpoint_id"),
        (lambda d: d["rubric"][1].update(dimension="Vibes"), "unknown_dimension"),
        (lambda d: d["rubric"][1].update(wieght=3), "unknown_field"),
        (lambda d: d.update(anchor={"model": "m", "response": "r", "verdicts": [
            {"checkpoint_id": "c99", "verdict": "met", "rationale": "x"}]}), "anchor_mismatch"),
        (lambda d: d.update(rubric=[]), "invalid_value"),
    ],
)
def test_each_schema_problem_has_a_reason(mutate, reason):
    d = submission_dict()
    mutate(d)
    got, message = parse(d)
    assert got == reason, message
    assert message


def test_nan_weight_is_quarantined_not_accepted():
    text = json.dumps(submission_dict()).replace('"weight": 10', '"weight": NaN', 1)
    assert "NaN" in text
    assert parse(text.encode())[0] == "invalid_weight"


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty_file"),
        (b"   \n", "empty_file"),
        (b'{"submission_id": ', "invalid_json"),
        ("{\"a\": \"caf\u00e9\"}".encode("latin-1"), "bad_encoding"),
        (b"[1, 2]", "not_an_object"),
    ],
)
def test_file_level_problems(data, reason):
    assert parse(data)[0] == reason


def test_oversized_file_is_rejected_before_parsing():
    r = parse_submission_bytes(b"{" + b" " * 2000 + b"}", "big.json", max_bytes=1000)
    assert r.reason == "file_too_large" and "2002 bytes" in r.message


def test_folder_parse_keeps_good_files_and_quarantines_bad(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(submission_dict("a")))
    (tmp_path / "b.json").write_text("{broken")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.json").write_text(json.dumps(submission_dict("c")))
    (tmp_path / "README.md").write_text("not a submission")
    later = submission_dict("a", when="2026-05-01T00:00:00Z")
    (tmp_path / "0_reuse.json").write_text(json.dumps(later))  # sorts first by path, but is later in time
    results = parse_folder(tmp_path)
    by_path = {r.path: r for r in results}
    assert set(by_path) == {"a.json", "b.json", "sub/c.json", "0_reuse.json"}
    assert by_path["a.json"].submission is not None
    assert by_path["sub/c.json"].submission is not None
    assert by_path["b.json"].reason == "invalid_json"
    assert by_path["0_reuse.json"].reason == "duplicate_submission_id"
    assert "a.json" in by_path["0_reuse.json"].message


def test_fingerprint_changes_with_any_file(tmp_path):
    (tmp_path / "a.json").write_text("1")
    f1 = folder_fingerprint(tmp_path)
    assert folder_fingerprint(tmp_path) == f1
    (tmp_path / "a.json").write_text("2")
    assert folder_fingerprint(tmp_path) != f1


def test_committed_json_schema_matches_the_model(tmp_path):
    from pipelines.paths import VALIDATION_DIR

    committed = (VALIDATION_DIR / "submission.schema.json").read_text()
    assert write_json_schema(tmp_path / "s.json") == committed, "run: python -m pipelines.core.submission --write-schema"


def test_prompt_text_joins_components_or_uses_full_prompt():
    s = Submission.model_validate(submission_dict())
    assert s.prompt_text().startswith("## Work scenario")
    d = submission_dict()
    d["task"] = {"prompt": "Do the thing."}
    assert Submission.model_validate(d).prompt_text() == "Do the thing."
    assert not math.isnan(sum(c.weight for c in s.rubric))
