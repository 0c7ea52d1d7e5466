from pipelines.config import CurationConfig
from pipelines.core.curation import ScreeningScore, curate, load_screening_scores
from pipelines.core.submission import Submission
from tests.core.factories import make, submission_dict

CFG = CurationConfig()


def decisions(subs, **kw):
    return {d.submission_id: d for d in curate(subs, CFG, **kw)}


def test_distinct_good_submissions_are_kept():
    out = decisions([make("a", topic="covenant"), make("b", expert="e2", topic="hedging")])
    assert all(d.kept for d in out.values())


def test_expert_cap_keeps_the_earliest_three():
    subs = [make(f"s{i}", topic=f"topic{i}x", when=f"2026-01-0{9 - i}T00:00:00Z") for i in range(5)]
    out = decisions(subs)
    # s4 is the earliest, then s3, s2: those three are kept, s1 and s0 dropped.
    assert [sid for sid, d in out.items() if d.kept] == ["s4", "s3", "s2"]
    assert out["s0"].rule == out["s1"].rule == "expert_cap"
    assert "s4, s3, s2" in out["s1"].detail


def test_missing_component_and_reference_answer():
    d = submission_dict("a")
    d["task"].pop("background")
    e = submission_dict("b", expert="e2", topic="hedging")
    e.pop("reference_answer")
    f = submission_dict("c", expert="e3", topic="premium")
    f["reference_answer"] = "Too short."
    out = decisions([Submission.model_validate(x) for x in (d, e, f)])
    assert out["a"].rule == "missing_component" and "background" in out["a"].detail
    assert out["b"].rule == "reference_answer"
    assert out["c"].rule == "reference_answer" and "chars" in out["c"].detail


def test_full_prompt_counts_as_all_components():
    d = submission_dict("a")
    d["task"] = {"prompt": "A complete prompt written as one text about covenant figures."}
    assert decisions([Submission.model_validate(d)])["a"].kept


def test_language_rules():
    de = make("a", language="de")
    zh_declared_en_text = make("b", expert="e2", topic="hedging", language="zh")
    out = decisions([de, zh_declared_en_text])
    assert out["a"].rule == "language" and "not in allowed" in out["a"].detail
    assert out["b"].rule == "language" and "CJK" in out["b"].detail


def test_exact_duplicate_ignores_case_and_whitespace():
    a = submission_dict("a")
    b = submission_dict("b", expert="e2", when="2026-02-01T00:00:00Z")
    b["task"] = {k: "  " + v.upper() for k, v in b["task"].items()}
    out = decisions([Submission.model_validate(x) for x in (a, b)])
    assert out["a"].kept
    assert out["b"].rule == "exact_duplicate" and out["b"].related_id == "a"


def test_near_duplicate_detected_and_threshold_configurable():
    a = submission_dict("a")
    b = submission_dict("b", expert="e2", when="2026-02-01T00:00:00Z")
    b["task"]["deliverables"] += " Keep it short."
    subs = [Submission.model_validate(x) for x in (a, b)]
    out = decisions(subs)
    assert out["b"].rule == "near_duplicate" and out["b"].related_id == "a"
    assert "Jaccard" in out["b"].detail
    strict = {d.submission_id: d for d in curate(subs, CurationConfig(near_duplicate_threshold=0.99))}
    assert strict["b"].kept


def test_unrelated_texts_are_not_near_duplicates():
    out = decisions([make("a", topic="covenant"), make("b", expert="e2", topic="orbital")])
    assert out["b"].kept


def test_difficulty_screen_only_with_scores(tmp_path):
    subs = [make("a"), make("b", expert="e2", topic="hedging")]
    assert all(d.kept for d in curate(subs, CFG))
    scores = {"a": [ScreeningScore("a", "m1", 0.4), ScreeningScore("a", "m2", 0.91)],
              "b": [ScreeningScore("b", "m1", 0.5)]}
    out = decisions(subs, screening=scores)
    assert out["a"].rule == "difficulty_screen" and "m2" in out["a"].detail
    assert out["b"].kept

    csv = tmp_path / "s.csv"
    csv.write_text("submission_id,screening_model,score\na,m1,0.9\n")
    assert load_screening_scores(csv)["a"][0].score == 0.9
    assert load_screening_scores(tmp_path / "missing.csv") == {}


def test_every_submission_gets_exactly_one_decision():
    subs = [make(f"s{i}", expert=f"e{i % 2}", topic=f"t{i}q") for i in range(8)]
    out = curate(subs, CFG)
    assert sorted(d.submission_id for d in out) == sorted(s.submission_id for s in subs)
