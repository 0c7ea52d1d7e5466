import json

from pipelines.core.judge_parse import parse_judge_reply

IDS = ["c01", "c02", "c03"]


def reply(*items) -> str:
    return json.dumps({"verdicts": [dict(zip(("id", "verdict", "rationale"), it)) for it in items]})


def test_well_formed_reply():
    p = parse_judge_reply(reply(("c01", "met", "ok"), ("c02", "not_met", "no"), ("c03", "met", "y")), IDS)
    assert p.reply_error is None and not p.problems
    assert p.verdicts == {"c01": (True, "ok"), "c02": (False, "no"), "c03": (True, "y")}


def test_code_fences_and_prose_around_json():
    text = "Here you go:\n```json\n" + reply(("c01", "met", "a"), ("c02", "met", "b"), ("c03", "met", "c")) + "\n```"
    assert len(parse_judge_reply(text, IDS).verdicts) == 3


def test_missing_duplicated_invalid_and_unknown():
    p = parse_judge_reply(reply(("c01", "met", "a"), ("c02", "maybe", "b"), ("c01", "not_met", "c"),
                                ("c09", "met", "x")), IDS)
    assert p.verdicts == {}
    assert p.problems == {"c01": "verdict given 2 times", "c02": "invalid verdict 'maybe'",
                          "c03": "missing from reply"}


def test_partial_reply_keeps_the_valid_verdicts():
    p = parse_judge_reply(reply(("c01", "met", "a")), IDS)
    assert set(p.verdicts) == {"c01"} and set(p.problems) == {"c02", "c03"}


def test_unreadable_replies():
    for text in (None, "", "not json at all", '{"verdicts": "all met"}', '{"verdicts": [{"id": "c01", "verdict": "met", "rat'):
        p = parse_judge_reply(text, IDS)
        assert p.reply_error and not p.verdicts and set(p.problems) == set(IDS)


def test_non_string_ids_are_ignored_not_fatal():
    text = json.dumps({"verdicts": [{"id": ["c01"], "verdict": "met"}, {"id": {"x": 1}, "verdict": "met"},
                                    {"id": 3, "verdict": "met"}, {"id": "c02", "verdict": "met", "rationale": "ok"}]})
    p = parse_judge_reply(text, IDS)
    assert p.verdicts == {"c02": (True, "ok")}
    assert p.problems == {"c01": "missing from reply", "c03": "missing from reply"}
