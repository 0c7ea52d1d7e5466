"""ShotJudge grading loop: build judge calls, parse replies, re-ask for what is still unresolved.

Independent of Dagster: `send` is any function that runs a batch of LLMRequests (the LLMRunner in
the pipeline). A re-ask is a new prompt, not a resend: it asks only for the checkpoints still
unresolved and tells the judge what was wrong with its last reply (cut off, not JSON, no verdicts
list, missing / duplicated / unknown ids, invalid values). A reply cut off at max_tokens is re-asked
in two halves (fewer checkpoints, a shorter reply) without using up an attempt, down to one
checkpoint per call; every other failure uses one of `max_attempts`. What is still unresolved then
becomes a judge error carrying its raw reply and an `error_kind`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from pipelines.config import JudgeConfig
from pipelines.core.frames import sha256_text, stable_json
from pipelines.core.judge_parse import (
    DUPLICATED,
    EMPTY,
    INVALID_JSON,
    INVALID_VALUE,
    MISSING,
    NO_VERDICTS,
    ParsedReply,
    parse_judge_reply,
)
from pipelines.core.judge_prompt import WorkedExample, judge_prompt, judge_template_hash, reask_note, verdicts_schema
from pipelines.core.submission import Checkpoint, Submission
from pipelines.llm.config import ModelsConfig
from pipelines.llm.progress import ReplyCheck
from pipelines.llm.types import LLMRequest, LLMResult

Send = Callable[[list[LLMRequest]], list[LLMResult]]
CUT_OFF, CALL_FAILED, NOT_ATTEMPTED = "cut_off", "call_failed", "not_attempted"
# Every judge_error row carries one of these (judgements.error_kind).
ERROR_KINDS = (CUT_OFF, CALL_FAILED, EMPTY, INVALID_JSON, NO_VERDICTS, MISSING, DUPLICATED, INVALID_VALUE,
               NOT_ATTEMPTED)


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
    error_kind: str | None = None  # one of ERROR_KINDS for a judge error


def chunks(checkpoints: Sequence[Checkpoint], per_call: int | None) -> list[list[Checkpoint]]:
    items = list(checkpoints)
    if not per_call or per_call >= len(items):
        return [items]
    return [items[i : i + per_call] for i in range(0, len(items), per_call)]


def judge_request(job: JudgeJob, part: Sequence[Checkpoint], judge_model: str, template_version: str,
                  attempt: int = 0, note: str | None = None, rationale_max_chars: int | None = None) -> LLMRequest:
    """The judge call for some checkpoints of one job (used by the pipeline and by estimates)."""
    prompt = judge_prompt(job.task, job.answer, list(part), job.example, note)
    ids = [c.id for c in part]
    return LLMRequest(
        model=judge_model, messages=prompt.messages, system=prompt.system, cache_prefix_chars=len(prompt.prefix),
        template_hash=judge_template_hash(template_version, "shotjudge" if job.example else "zeroshot"),
        attempt=attempt, response_format="json", json_schema=verdicts_schema(ids, rationale_max_chars),
        tags={**job.tags, "role": "judge", "attempt": str(attempt), "checkpoints": ",".join(ids)},
    )


def unresolved_count(request: LLMRequest, result: LLMResult) -> int:
    """Checkpoints a judge reply left without a usable verdict (progress bars count them)."""
    if not result.ok:
        return 0  # counted as a call error already
    return len(parse_judge_reply(result.text, request.tags.get("checkpoints", "").split(",")).problems)


VERDICT_ERRORS = ReplyCheck("verdict errors", unresolved_count)


def _ids(ids: Sequence[str], n: int = 12) -> str:
    ids = list(ids)
    return ", ".join(ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")


def reply_problems(parsed: ParsedReply, cut_off: bool) -> list[str]:
    """What was wrong with a reply, in words the judge can act on (the re-ask's note)."""
    out = []
    if cut_off:
        out.append("it was cut off at the output token limit (finish_reason=length) before it was complete")
    elif parsed.reply_error is not None:
        out.append({EMPTY: "it was empty", NO_VERDICTS: 'it was JSON without a "verdicts" list'}.get(
            next(iter(parsed.kinds.values()), ""), f"it was not valid JSON ({parsed.reply_error})"))
    if parsed.reply_error is None:
        by_kind: dict[str, list[str]] = {}
        for cid, kind in parsed.kinds.items():
            by_kind.setdefault(kind, []).append(cid)
        if by_kind.get(MISSING):
            out.append(f"it gave no verdict for {_ids(by_kind[MISSING])}")
        if by_kind.get(DUPLICATED):
            out.append(f"it gave more than one verdict for {_ids(by_kind[DUPLICATED])}")
        if by_kind.get(INVALID_VALUE):
            given = [f"{parsed.problems[c].removeprefix('invalid verdict ')[:40]} for {c}" for c in by_kind[INVALID_VALUE][:12]]
            out.append(f'a verdict must be "met" or "not_met", but it gave {", ".join(given)}')
        if parsed.unknown_ids:
            out.append(f"it graded ids that were not asked for ({_ids(parsed.unknown_ids)})")
    return out


@dataclass
class _Unit:
    """One judge call's worth of checkpoints, and where it came from (for the store's rejections)."""

    job: tuple[str, ...]
    part: list[Checkpoint]
    attempt: int = 0
    strikes: int = 0  # failures so far that were not a cut-off split
    note: str | None = None
    parent: int | None = None
    call_key: str | None = None
    resolved_any: bool = False


def run_judging(
    jobs: Sequence[JudgeJob],
    send: Send,
    *,
    judge_model: str,
    template_version: str,
    per_call: int | None = None,
    max_attempts: int = 3,
    reject: Callable[[list[tuple[str, str]]], object] | None = None,
    rationale_max_chars: int | None = None,
) -> list[CheckpointVerdict]:
    """All verdicts for all jobs, in job order then rubric order.

    `reject` receives (call key, reason) for replies that resolved nothing and led to nothing (no
    later reply in their line resolved any of their checkpoints): unusable replies must not be
    final answers, so the call store drops them and a later run asks again, only for what is still
    unresolved. Replies that a later re-ask built on stay, so a rerun replays the same line.
    """
    resolved: dict[tuple[tuple[str, ...], str], CheckpointVerdict] = {}
    last_failure: dict[tuple[tuple[str, ...], str], CheckpointVerdict] = {}
    by_key = {j.key: j for j in jobs}
    units = [_Unit(j.key, part) for j in jobs for part in chunks(list(j.task.rubric), per_call) if part]
    frontier = list(range(len(units)))
    reasons: dict[int, str] = {}

    def follow(parent: int, part: list[Checkpoint], strikes: int, note: str | None) -> None:
        if strikes < max_attempts:
            u = units[parent]
            units.append(_Unit(u.job, part, u.attempt + 1, strikes, note, parent))
            frontier.append(len(units) - 1)

    while frontier:
        batch, frontier = frontier, []
        requests = [judge_request(by_key[units[i].job], units[i].part, judge_model, template_version,
                                  units[i].attempt, units[i].note, rationale_max_chars) for i in batch]
        for i, res in zip(batch, send(requests)):
            u = units[i]
            u.call_key = res.call_key
            if not res.ok:
                reason = f"judge call failed: {res.error_type}: {res.error_message}"
                for c in u.part:
                    last_failure[(u.job, c.id)] = CheckpointVerdict(
                        u.job, c.id, "judge_error", "", reason, None, res.call_key, u.attempt, None, CALL_FAILED)
                follow(i, u.part, u.strikes + 1, u.note)  # nothing new to tell the judge
                continue
            parsed = parse_judge_reply(res.text, [c.id for c in u.part])
            cut = res.finish_reason == "length"
            unresolved = []
            for c in u.part:
                if c.id in parsed.verdicts:
                    met, why = parsed.verdicts[c.id]
                    resolved[(u.job, c.id)] = CheckpointVerdict(
                        u.job, c.id, "met" if met else "not_met", why, None, None, res.call_key, u.attempt,
                        res.model_reported)
                    continue
                why = parsed.reply_error or parsed.problems.get(c.id, "missing from reply")
                if cut:
                    why += " (reply cut off: finish_reason=length)"
                last_failure[(u.job, c.id)] = CheckpointVerdict(
                    u.job, c.id, "judge_error", "", why, res.text, res.call_key, u.attempt, res.model_reported,
                    CUT_OFF if cut else parsed.kinds.get(c.id, MISSING))
                unresolved.append(c)
            u.resolved_any = len(unresolved) < len(u.part)
            if not u.resolved_any:  # a stored reply that resolved nothing it was asked
                reasons[i] = parsed.reply_error or ("cut off" if cut else "no usable verdict")
            if not unresolved:
                continue
            problems = reply_problems(parsed, cut)
            if cut and len(unresolved) > 1:
                # A shorter reply fits: split instead of spending an attempt on the same size.
                half = (len(unresolved) + 1) // 2
                for part in (unresolved[:half], unresolved[half:]):
                    follow(i, part, u.strikes, reask_note(problems, len(part), cut))
            else:
                follow(i, unresolved, u.strikes + 1, reask_note(problems, len(unresolved), cut))

    if reject is not None:
        rejections = _dead_ends(units, reasons)
        if rejections:
            reject(rejections)
    out = []
    for job in jobs:
        for c in job.task.rubric:
            v = resolved.get((job.key, c.id)) or last_failure.get((job.key, c.id)) or CheckpointVerdict(
                job.key, c.id, "judge_error", "", "not attempted", None, None, -1, None, NOT_ATTEMPTED)
            out.append(v)
    return out


def _dead_ends(units: list[_Unit], reasons: dict[int, str]) -> list[tuple[str, str]]:
    """(call key, reason) of unusable replies no later reply in their line built a verdict on."""
    productive = [u.resolved_any for u in units]
    for i in range(len(units) - 1, -1, -1):  # children always come after their parent
        parent = units[i].parent
        if productive[i] and parent is not None:
            productive[parent] = True
    keep = {u.call_key for u, p in zip(units, productive) if p}
    return sorted({(units[i].call_key, r) for i, r in reasons.items()
                   if not productive[i] and units[i].call_key not in keep and units[i].call_key})


VERDICT_COLUMNS = [
    "task_id", "model", "checkpoint_id", "verdict", "met", "rationale", "error_reason", "error_kind", "raw_reply",
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
        "rationale": v.rationale, "error_reason": v.error_reason, "error_kind": v.error_kind, "raw_reply": v.raw_reply,
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
