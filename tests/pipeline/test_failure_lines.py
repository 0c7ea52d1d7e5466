"""Honest progress and failure lines: verdict errors are counted as they happen, and a failed
blocking check prints its figure, its limit and the next step."""

import io
import json

import dagster as dg
import pytest
from rich.console import Console

from pipelines.cli.orchestrate import run_all
from pipelines.cli.summary import print_summary
from pipelines.core.judge_prompt import WorkedExample
from pipelines.core.judging import VERDICT_ERRORS, JudgeJob, judge_request
from pipelines.core.submission import Submission
from pipelines.llm.runner import LLMRunner
from tests.pipeline.helpers import anchored, load, models_yaml, pipeline_defs, pipeline_yaml, small_raw_folder


def test_progress_counts_verdict_errors_not_only_call_errors(tmp_path):
    task = Submission.model_validate(anchored("j-1", "Finance", "covenant", "e1", miss=3))
    ids = [c.id for c in task.rubric]
    lines: list[str] = []
    job = JudgeJob(("j-1", "m"), task, task.reference_answer, WorkedExample(task, task.anchor), "shotjudge")
    reqs = [judge_request(job, task.rubric[:8], "standin-judge", "t"), judge_request(job, task.rubric[8:], "standin-judge", "t")]
    with LLMRunner(load(models_yaml(tmp_path / "m.yaml")), tmp_path / "c.sqlite", log=lines.append, progress=False) as r:
        half = {"verdicts": [{"id": i, "verdict": "met", "rationale": "r"} for i in ids[:5]]}
        r.standin.script([{"content": json.dumps(half)}] * 2)  # the same reply to both: order does not matter
        r.run(reqs, desc="judge", check=VERDICT_ERRORS)
        # 200 OK twice: no call error, but 3 + 8 checkpoints came back without a usable verdict
        assert "judge: 2/2 done, 0 from store, 0 errors, 11 verdict errors" in lines
        assert any(s.startswith("judge: sent 2 calls") and s.endswith("0 failed, 11 verdict errors") for s in lines)
        lines.clear()
        r.run(reqs, desc="again", check=VERDICT_ERRORS)  # from the store: still counted
        assert "again: 2/2 done, 2 from store, 0 errors, 11 verdict errors" in lines


def test_generation_progress_counts_truncated_answers(tmp_path):
    from pipelines.llm.progress import TRUNCATED
    from tests.llm.llm_helpers import req

    lines: list[str] = []
    with LLMRunner(load(models_yaml(tmp_path / "m.yaml")), tmp_path / "c.sqlite", log=lines.append, progress=False) as r:
        r.standin.script([{"finish_reason": "length"}])
        r.run([req("one", model="generic"), req("two", model="generic")], desc="gen", check=TRUNCATED)
    assert "gen: 2/2 done, 0 from store, 0 errors, 1 truncated" in lines


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """A judge that answers in prose (the generic stand-in): every verdict is a judge error."""
    root = tmp_path_factory.mktemp("fail")
    small_raw_folder(root / "raw", per_domain=1)
    models = models_yaml(root / "models.yaml", candidates=("oracle",), extra_models={
        "standin-judge": {"provider": "standin-openai", "model_id": "standin-generic", "max_tokens": 4096}})
    defs = pipeline_defs(str(root / "raw"), str(root / "assets"), str(pipeline_yaml(root / "xb.yaml")), str(models))
    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as inst:
        ok = run_all(inst, defs=defs, echo=lines.append)
    return ok, lines, root / "assets"


def test_failed_judge_check_prints_rate_limit_and_next_step(failing):
    ok, lines, _ = failing
    assert not ok
    line = next(s for s in lines if "judge_error_rate failed" in s)
    assert "judge_error_rate 100.0% > 5.0% for standin-judge judging oracle (112 of 112 verdicts; invalid_json 112)" in line
    assert "Next: the judge does not follow the reply format: set structured_output: json_schema" in line
    assert "xpertbench run --model oracle" in line


def test_summary_shows_verdict_outcomes_by_kind(failing):
    _, _, assets = failing
    buf = io.StringIO()
    print_summary(assets, Console(file=buf, width=200))
    row = next(s for s in buf.getvalue().splitlines() if s.strip().startswith("│ oracle"))
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells == ["oracle", "7", "0", "0", "0", "0", "112", "invalid_json 112"]
