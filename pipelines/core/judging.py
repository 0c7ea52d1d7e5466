"""ShotJudge grading loop: build judge calls, parse replies, re-ask for what is still unresolved.

Independent of Dagster: `send` is any function that runs a batch of LLMRequests (the LLMRunner in
the pipeline). Each round asks only for the checkpoints still unresolved, with `attempt` raised so
the re-ask is a new call; after `max_attempts` the rest become judge errors carrying the raw reply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from pipelines.config import JudgeConfig
from pipelines.core.frames import sha256_text, stable_json
from pipelines.core.judge_parse import parse_judge_reply
from pipelines.core.judge_prompt import WorkedExample, judge_messages, judge_template_hash
from pipelines.core.submission import Checkpoint, Submission
from pipelines.llm.config import ModelsConfig
from pipelines.llm.types import LLMRequest, LLMResult

Send = Callable[[list[LLMRequest]], list[LLMResult]]


@dataclass(frozen=True)
class JudgeJob:
    """Grade one answer to one task. `key` identifies the job in the output (e.g. task and model)."""

    key: tuple[str, ...]
    task: Submission
    answer: str
    example: WorkedExample | None
    mode: str  # shotjudge | zeroshot | zeroshot_fallback
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointVerdict:
    job_key: tuple[str, ...]
    checkpoint_id: str
    verdict: str  # met | not_met | judge_error
    rationale: str
    error_reason: str | None
    raw_reply: str | None  # kept for judge errors, so the failure can be inspected
    call_key: str | None
    attempt: int
    model_reported: str | None


def chunks(checkpoints: Sequence[Checkpoint], per_call: int | None) -> list[list[Checkpoint]]:
    items = list(checkpoints)
    if not per_call or per_call >= len(items):
        return [items]
    return [items[i : i + per_call] for i in range(0, len(items), per_call)]


def judge_request(job: JudgeJob, part: Sequence[Checkpoint], judge_model: str, template_version: str,
                  attempt: int = 0) -> LLMRequest:
    """The judge call for some checkpoints of one job (used by the pipeline and by estimates)."""
    system, messages = judge_messages(job.task, job.answer, list(part), job.example)
    return LLMRequest(
        model=judge_model, messages=messages, system=system,
        template_hash=judge_template_hash(template_version, "shotjudge" if job.example else "zeroshot"),
        attempt=attempt, response_format="json", tags={**job.tags, "role": "judge", "attempt": str(attempt)},
    )


def run_judging(
    jobs: Sequence[JudgeJob],
    send: Send,
    *,
    judge_model: str,
    template_version: str,
    per_call: int | None = None,
    max_attempts: int = 3,
    reject: Callable[[list[tuple[str, str]]], object] | None = None,
) -> list[CheckpointVerdict]:
    """All verdicts for all jobs, in job order then rubric order.

    `reject` receives (call key, reason) for replies that gave no usable verdict for some checkpoint
    and were not followed by a usable one: unusable replies must not be final answers, so the call
    store drops them and a later run asks again (only for the checkpoints still unresolved, since
    replies that resolved some checkpoints stay and are re-asked from the next attempt).
    """
    resolved: dict[tuple[tuple[str, ...], str], CheckpointVerdict] = {}
    last_failure: dict[tuple[tuple[str, ...], str], tuple[str, str | None, str | None, int, str | None]] = {}
    pending = {j.key: list(j.task.rubric) for j in jobs}
    by_key = {j.key: j for j in jobs}
    unusable: dict[str, str] = {}

    for attempt in range(max_attempts):
        units = [(k, part) for k, cps in pending.items() if cps for part in chunks(cps, per_call)]
        if not units:
            break
        requests = [judge_request(by_key[k], part, judge_model, template_version, attempt) for k, part in units]
        results = send(requests)
        pending = {k: [] for k in pending}
        for (k, part), res in zip(units, results):
            ids = [c.id for c in part]
            if not res.ok:
                reason = f"judge call failed: {res.error_type}: {res.error_message}"
                for cid in ids:
                    last_failure[(k, cid)] = (reason, None, res.call_key, attempt, None)
                pending[k].extend(part)
                continue
            parsed = parse_judge_reply(res.text, ids)
            for c in part:
                if c.id in parsed.verdicts:
                    met, why = parsed.verdicts[c.id]
                    resolved[(k, c.id)] = CheckpointVerdict(
                        k, c.id, "met" if met else "not_met", why, None, None, res.call_key, attempt,
                        res.model_reported)
                else:
                    why = parsed.reply_error or parsed.problems.get(c.id, "missing from reply")
                    if res.finish_reason == "length":
                        why += " (reply cut off: finish_reason=length)"
                    last_failure[(k, c.id)] = (why, res.text, res.call_key, attempt, res.model_reported)
                    pending[k].append(c)
            if not any(c.id in parsed.verdicts for c in part):
                unusable[res.call_key] = parsed.reply_error or "no usable verdict"

    if reject is not None and unusable:
        reject(sorted(unusable.items()))
    out = []
    for job in jobs:
        for c in job.task.rubric:
            v = resolved.get((job.key, c.id))
            if v is None:
                reason, raw, ck, att, reported = last_failure.get(
                    (job.key, c.id), ("not attempted", None, None, -1, None))
                v = CheckpointVerdict(job.key, c.id, "judge_error", "", reason, raw, ck, att, reported)
            out.append(v)
    return out


VERDICT_COLUMNS = [
    "task_id", "model", "checkpoint_id", "verdict", "met", "rationale", "error_reason", "raw_reply",
    "judge_call_key", "judge_attempt", "judge_model", "judge_model_reported", "judge_mode",
    "example_task_id", "judge_template_hash", "judge_config", "generation_call_key",
]


def verdict_frame(verdicts: Sequence[CheckpointVerdict], jobs: Sequence[JudgeJob], judge_model: str,
                  template_version: str, config_hash: str, extra: dict[tuple, dict]) -> pd.DataFrame:
    """One row per checkpoint verdict; `extra[job.key]` adds task_id, model and other job columns."""
    mode = {j.key: j.mode for j in jobs}
    example = {j.key: (j.example.same_task_as if j.example else None) for j in jobs}
    extra_cols = sorted({c for e in extra.values() for c in e} - set(VERDICT_COLUMNS))
    rows = [{
        **extra[v.job_key], "checkpoint_id": v.checkpoint_id, "verdict": v.verdict,
        "met": None if v.verdict == "judge_error" else v.verdict == "met",
        "rationale": v.rationale, "error_reason": v.error_reason, "raw_reply": v.raw_reply,
        "judge_call_key": v.call_key, "judge_attempt": v.attempt, "judge_model": judge_model,
        "judge_model_reported": v.model_reported, "judge_mode": mode[v.job_key],
        "example_task_id": example[v.job_key],
        "judge_template_hash": judge_template_hash(
            template_version, "shotjudge" if mode[v.job_key] == "shotjudge" else "zeroshot"),
        "judge_config": config_hash,
    } for v in verdicts]
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS + extra_cols)


def judge_config_hash(judge_cfg: JudgeConfig, models: ModelsConfig) -> str:
    """What the judge was: its settings in xpertbench.yaml and its entry in models.yaml."""
    judge = models.model(models.judge)
    return sha256_text(stable_json({"judge": judge_cfg.model_dump(mode="json"), "model": models.judge,
                                    "model_config": judge.model_dump(mode="json")}))[:16]
