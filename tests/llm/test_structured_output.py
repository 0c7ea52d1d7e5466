"""Structured output per model (structured_output in models.yaml), through the real SDKs.

What reaches the server is checked in its request log; that the reply is then read correctly is
checked by the verdicts (prefill and tool replies are not plain JSON text on the wire)."""

import pytest

from pipelines.core.judge_prompt import WorkedExample
from pipelines.core.judging import JudgeJob, run_judging
from pipelines.core.submission import Submission
from pipelines.llm import ConfigError
from pipelines.llm.runner import LLMRunner
from tests.pipeline.helpers import anchored, load, models_yaml


@pytest.fixture(scope="module")
def task() -> Submission:
    return Submission.model_validate(anchored("j-1", "Finance", "covenant", "e1", miss=3))


def grade(tmp_path, task, provider: str, mode: str | None, per_call=None, max_chars=None):
    judge = {"provider": provider, "model_id": "standin-judge", "max_tokens": 4096}
    if mode is not None:
        judge["structured_output"] = mode
    cfg = load(models_yaml(tmp_path / "m.yaml", extra_models={"standin-judge": judge}))
    with LLMRunner(cfg, tmp_path / "calls.sqlite", progress=False) as r:
        job = JudgeJob(("j-1", "m"), task, task.reference_answer, WorkedExample(task, task.anchor), "shotjudge")
        out = run_judging([job], r.run, judge_model="standin-judge", template_version="t", per_call=per_call,
                          rationale_max_chars=max_chars)
        return out, r.standin.request_log(), r.call_key


def ids(task):
    return [c.id for c in task.rubric]


def test_openai_default_is_json_object(tmp_path, task):
    out, log, _ = grade(tmp_path, task, "standin-openai", None)
    assert log[0]["params"]["response_format"] == {"type": "json_object"}
    assert all(v.verdict == "met" for v in out)


def test_openai_json_schema_is_strict_and_names_the_ids_asked(tmp_path, task):
    out, log, _ = grade(tmp_path, task, "standin-openai", "json_schema", per_call=10)
    schemas = sorted((e["params"]["response_format"] for e in log), key=lambda f: -len(
        f["json_schema"]["schema"]["properties"]["verdicts"]["items"]["properties"]["id"]["enum"]))
    assert [f["type"] for f in schemas] == ["json_schema", "json_schema"] and schemas[0]["json_schema"]["strict"]
    first = schemas[0]["json_schema"]["schema"]["properties"]["verdicts"]
    assert first["items"]["properties"]["id"]["enum"] == ids(task)[:10] and first["minItems"] == first["maxItems"] == 10
    assert first["items"]["properties"]["verdict"]["enum"] == ["met", "not_met"]
    assert all(v.verdict == "met" for v in out)


def test_rationale_length_cap_reaches_the_schema(tmp_path, task):
    out, log, _ = grade(tmp_path, task, "standin-openai", "json_schema", max_chars=300)
    item = log[0]["params"]["response_format"]["json_schema"]["schema"]["properties"]["verdicts"]["items"]
    assert item["properties"]["rationale"] == {"type": "string", "maxLength": 300}
    assert all(v.verdict == "met" for v in out)


def test_openai_off_sends_no_response_format(tmp_path, task):
    out, log, _ = grade(tmp_path, task, "standin-openai", "off")
    assert "response_format" not in log[0]["params"] and all(v.verdict == "met" for v in out)


def test_anthropic_json_schema_uses_output_config_without_item_counts(tmp_path, task):
    out, log, _ = grade(tmp_path, task, "standin-anthropic", "json_schema", max_chars=300)
    fmt = log[0]["params"]["output_config"]["format"]
    arr = fmt["schema"]["properties"]["verdicts"]
    assert arr["items"]["properties"]["rationale"] == {"type": "string"}  # no maxLength for Anthropic
    assert fmt["type"] == "json_schema" and arr["items"]["properties"]["id"]["enum"] == ids(task)
    assert "minItems" not in arr and "maxItems" not in arr  # Anthropic accepts only 0 or 1 there
    assert all(v.verdict == "met" for v in out)


def test_anthropic_prefill_is_continued_and_rejoined(tmp_path, task):
    out, log, _ = grade(tmp_path, task, "standin-anthropic", "prefill")
    assert log[0]["prefill"] == "{" and "output_config" not in log[0]["params"]
    assert all(v.verdict == "met" for v in out)  # the reply lacks the "{" on the wire: the client rejoins it


def test_a_server_that_echoes_the_prefill_is_read_too(tmp_path, task):
    judge = {"provider": "standin-anthropic", "model_id": "standin-judge", "max_tokens": 4096,
             "structured_output": "prefill"}
    cfg = load(models_yaml(tmp_path / "m.yaml", extra_models={"standin-judge": judge}))
    with LLMRunner(cfg, tmp_path / "calls.sqlite", progress=False) as r:
        r.standin.script([{"echo_prefill": True}])  # llama.cpp returns "{" + continuation
        job = JudgeJob(("j-1", "m"), task, task.reference_answer, WorkedExample(task, task.anchor), "shotjudge")
        out = run_judging([job], r.run, judge_model="standin-judge", template_version="t")
        assert len(r.standin.request_log()) == 1 and all(v.verdict == "met" for v in out)


def test_anthropic_tool_use_reply_is_read_from_the_tool_input(tmp_path, task):
    out, log, _ = grade(tmp_path, task, "standin-anthropic", "tool")
    p = log[0]["params"]
    assert p["tool_choice"] == {"type": "tool", "name": "submit_reply"}
    assert p["tools"][0]["input_schema"]["properties"]["verdicts"]["items"]["properties"]["id"]["enum"] == ids(task)
    assert all(v.verdict == "met" for v in out)


def test_anthropic_default_sends_nothing_extra(tmp_path, task):
    out, log, _ = grade(tmp_path, task, "standin-anthropic", None)
    p = log[0]["params"]
    assert not {"output_config", "tools", "tool_choice", "response_format"} & set(p) and log[0]["prefill"] == ""
    assert all(v.verdict == "met" for v in out)


def test_mode_enters_the_call_key_only_when_set(tmp_path, task):
    from pipelines.core.judging import judge_request

    job = JudgeJob(("j-1", "m"), task, "answer", None, "zeroshot")
    req = judge_request(job, list(task.rubric), "standin-judge", "t")
    keys = {}
    for mode in ("auto", "json_schema", "off"):
        judge = {"provider": "standin-openai", "model_id": "standin-judge", "max_tokens": 4096, "structured_output": mode}
        cfg = load(models_yaml(tmp_path / f"{mode}.yaml", extra_models={"standin-judge": judge}))
        with LLMRunner(cfg, tmp_path / "k.sqlite", progress=False) as r:
            keys[mode] = (r.call_key(req), r.key_material(req))
    assert len({k for k, _ in keys.values()}) == 3
    assert "json_schema" in keys["json_schema"][1] and "json_schema" not in keys["auto"][1]
    assert "structured_output" not in keys["auto"][1]["params"]  # keys made before the option existed hold


@pytest.mark.parametrize(("provider", "mode"), [("standin-openai", "prefill"), ("standin-openai", "tool"),
                                                ("standin-anthropic", "json_object")])
def test_modes_a_protocol_lacks_are_refused(tmp_path, provider, mode):
    judge = {"provider": provider, "model_id": "standin-judge", "structured_output": mode}
    with pytest.raises(ConfigError, match=f"structured_output '{mode}' is not available"):
        load(models_yaml(tmp_path / "m.yaml", extra_models={"standin-judge": judge}))


def test_prefill_and_tool_refuse_extended_thinking(tmp_path):
    judge = {"provider": "standin-anthropic", "model_id": "standin-judge", "structured_output": "prefill",
             "reasoning_effort": "low", "max_tokens": 4096}
    with pytest.raises(ConfigError, match="cannot be combined with extended thinking"):
        load(models_yaml(tmp_path / "m.yaml", extra_models={"standin-judge": judge}))


def test_context_window_must_leave_room_for_a_prompt(tmp_path):
    judge = {"provider": "standin-openai", "model_id": "standin-judge", "max_tokens": 4096, "context_window": 4096}
    with pytest.raises(ConfigError, match="leaves no room for a prompt"):
        load(models_yaml(tmp_path / "m.yaml", extra_models={"standin-judge": judge}))
