"""Re-asks that can succeed: each failure kind of a judge reply, scripted at the stand-in server.

A re-ask must be a different request from the one that failed: it names what was wrong with the
last reply and asks only for the checkpoints still unresolved; a reply cut off at max_tokens is
re-asked in halves. Calls are counted at the server, and the prompt the server received is
matched (by its sha256) against the request our code built.
"""

import hashlib
import json

import pytest

from pipelines.core.judge_prompt import WorkedExample
from pipelines.core.judging import JudgeJob, run_judging
from pipelines.llm.runner import LLMRunner
from tests.pipeline.helpers import load, models_yaml


def judge(runner, task, sent, *, per_call=None, attempts=3, reject=None):
    job = JudgeJob(("j-1", "m"), task, task.reference_answer, WorkedExample(task, task.anchor), "shotjudge")

    def send(reqs):
        sent.append(reqs)
        return runner.run(reqs)

    out = run_judging([job], send, judge_model="standin-judge", template_version="judge-test",
                      per_call=per_call, max_attempts=attempts, reject=reject)
    return {v.checkpoint_id: v for v in out}


def wire_sha(req) -> str:
    """The stand-in logs sha256(json([system, messages])) of what it received."""
    msgs = [{"role": "system", "content": req.system}, *req.messages]
    return hashlib.sha256(json.dumps([None, msgs], ensure_ascii=False).encode("utf-8")).hexdigest()


def asked(req) -> list[str]:
    return req.tags["checkpoints"].split(",")


def note(req) -> str:
    text = req.messages[-1]["content"]
    assert "# About your previous reply" in text, "a re-ask must say what was wrong"
    return text[text.index("# About your previous reply"):]


def verdicts(ids, verdict="met"):
    return {"verdicts": [{"id": i, "verdict": verdict, "rationale": "r"} for i in ids]}


def check_wire(runner, sent):
    """Every request our loop built reached the server, as built, once (calls in a batch run concurrently)."""
    flat = [r for batch in sent for r in batch]
    log = runner.standin.request_log()
    assert sorted(e["params"]["prompt_sha256"] for e in log) == sorted(wire_sha(r) for r in flat)
    return flat


@pytest.mark.parametrize(("content", "expected"), [
    ("I think the answer is pretty good!", "it was not valid JSON"),
    (json.dumps({"score": 0.8}), 'it was JSON without a "verdicts" list'),
])
def test_unreadable_reply_is_reasked_with_what_was_wrong(runner, task, content, expected):
    ids = [c.id for c in task.rubric]
    sent: list = []
    runner.standin.script([{"content": content}])
    out = judge(runner, task, sent)
    first, reask = check_wire(runner, sent)
    assert asked(reask) == ids and expected in note(reask) and "Grade only the 16 checkpoints" in note(reask)
    assert reask.attempt == 1 and "# About your previous reply" not in first.messages[-1]["content"]
    assert all(v.verdict == "met" and v.attempt == 1 for v in out.values())


def test_missing_and_unknown_ids_reask_only_the_unresolved(runner, task):
    ids = [c.id for c in task.rubric]
    sent: list = []
    reply = verdicts(ids[:4], "not_met")
    reply["verdicts"].append({"id": "c99", "verdict": "met", "rationale": "not in the rubric"})
    runner.standin.script([{"content": json.dumps(reply)}])
    out = judge(runner, task, sent)
    _, reask = check_wire(runner, sent)
    assert asked(reask) == ids[4:]  # only the 12 unresolved ids are in the re-ask's rubric
    assert f"it gave no verdict for {ids[4]}" in note(reask) and "not asked for (c99)" in note(reask)
    assert [out[i].verdict for i in ids[:4]] == ["not_met"] * 4
    assert all(out[i].verdict == "met" and out[i].attempt == 1 for i in ids[4:])


def test_duplicated_and_invalid_values_are_named_in_the_reask(runner, task):
    ids = [c.id for c in task.rubric]
    sent: list = []
    bad = verdicts(ids[2:])
    bad["verdicts"] += [{"id": ids[0], "verdict": "met", "rationale": "a"},
                        {"id": ids[0], "verdict": "not_met", "rationale": "b"},
                        {"id": ids[1], "verdict": "probably", "rationale": "c"}]
    runner.standin.script([{"content": json.dumps(bad)}])
    out = judge(runner, task, sent)
    _, reask = check_wire(runner, sent)
    assert asked(reask) == ids[:2]
    assert f"more than one verdict for {ids[0]}" in note(reask) and f"'probably' for {ids[1]}" in note(reask)
    assert out[ids[0]].verdict == "met" and out[ids[1]].verdict == "met"


def test_cut_off_reply_is_split_without_using_an_attempt(runner, task):
    ids = [c.id for c in task.rubric]
    sent: list = []
    runner.standin.script([{"content": '{"verdicts": [{"id": "c01", "verdict": "met", "rat', "finish_reason": "length"}])
    out = judge(runner, task, sent, attempts=1)  # one attempt only: the split must not spend it
    first, half_a, half_b = check_wire(runner, sent)
    assert asked(first) == ids and asked(half_a) == ids[:8] and asked(half_b) == ids[8:]
    for r in (half_a, half_b):
        assert "cut off at the output token limit" in note(r) and "one short sentence" in note(r)
    assert all(v.verdict == "met" for v in out.values())


def test_a_reply_cut_off_every_time_is_split_down_to_one_checkpoint_then_given_up(runner, task):
    cut = {"content": '{"verdicts": [', "finish_reason": "length"}
    runner.standin.script([cut] * 100)
    sent: list = []
    out = judge(runner, task, sent, per_call=4, attempts=2)
    flat = check_wire(runner, sent)
    # 4 calls of 4, 8 of 2, 16 of 1, then each single checkpoint once more (its second attempt).
    assert [len(b) for b in sent] == [4, 8, 16, 16] and len(flat) == 44
    assert all(len(asked(r)) == 1 for r in sent[3])
    assert {v.verdict for v in out.values()} == {"judge_error"} and {v.error_kind for v in out.values()} == {"cut_off"}


def test_error_kinds_of_final_judge_errors(runner, task):
    ids = [c.id for c in task.rubric]
    runner.standin.script([{"status": 400}] * 3)
    out = judge(runner, task, [])
    assert {v.error_kind for v in out.values()} == {"call_failed"}
    runner.standin.reset()
    partial = verdicts(ids[1:])
    partial["verdicts"].append({"id": ids[0], "verdict": "maybe", "rationale": "?"})
    runner.standin.script([{"content": json.dumps(partial)}] + [{"content": "nope"}] * 2)
    out = judge(runner, task, [])
    assert out[ids[0]].error_kind == "invalid_json" and all(out[i].verdict == "met" for i in ids[1:])


def test_a_cut_off_reply_that_later_replies_built_on_stays_in_the_store(tmp_path, task):
    cfg, store = load(models_yaml(tmp_path / "m.yaml")), tmp_path / "calls.sqlite"
    with LLMRunner(cfg, store, progress=False) as first:
        first.standin.script([{"content": '{"verdicts": [', "finish_reason": "length"}])
        out = judge(first, task, [], reject=first.reject)
        assert {v.verdict for v in out.values()} == {"met"} and len(first.standin.request_log()) == 3
    with LLMRunner(cfg, store, progress=False) as again:
        out = judge(again, task, [], reject=again.reject)
        assert {v.verdict for v in out.values()} == {"met"}
        assert again.standin.request_log() == []  # the whole line replays from the store
