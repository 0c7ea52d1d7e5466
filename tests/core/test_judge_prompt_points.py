"""Judge prompt for points rubrics and conversations; the stand-in judge still reads it."""

from __future__ import annotations

import json

from pipelines.core.judge_prompt import JUDGE_INSTRUCTIONS, PENALTY_INSTRUCTIONS, judge_messages, judge_prompt
from pipelines.core.submission import Submission
from pipelines.llm.standins import judge_reply, parse_judge_prompt
from tests.core.factories import make as make_submission
from tests.core.test_schema_1_1 import points_submission


def test_penalty_instruction_and_transcript_for_points_rubrics():
    s = Submission.model_validate(points_submission())
    _, msgs = judge_messages(s, "Call emergency services now and keep him lying down.", list(s.rubric), None)
    text = msgs[0]["content"]
    assert PENALTY_INSTRUCTIONS in text and "conversation" in text
    assert "[assistant]\nIs he breathing?" in text and "[user]\nYes, what now?" in text
    rubric, _ = parse_judge_prompt(text)
    assert [r["polarity"] for r in rubric] == ["requirement", "penalty"]


def test_weighted_prompts_have_no_penalty_text():
    s = make_submission()
    p = judge_prompt(s, "an answer", list(s.rubric), None)
    text = p.messages[0]["content"]
    assert PENALTY_INSTRUCTIONS not in text and p.prefix.rstrip().endswith(JUDGE_INSTRUCTIONS)
    assert '"points"' not in text and "conversation" not in text


def test_stand_in_marks_a_penalty_met_when_the_answer_does_it():
    s = Submission.model_validate(points_submission())
    answer = "Recommends giving the patient food or water right away; calling emergency services is not needed."
    _, msgs = judge_messages(s, answer, [s.rubric[1]], None)
    verdicts = json.loads(judge_reply(msgs[0]["content"]))["verdicts"]
    assert verdicts == [{"id": "r1", "verdict": "met", "rationale": verdicts[0]["rationale"]}]
