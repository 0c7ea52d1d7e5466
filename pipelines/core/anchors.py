"""Worked examples for judging anchor answers without handing the judge the key.

When the judge grades task T's own anchor answer (to measure agreement with the experts), showing
T's anchor with its expert verdicts as the worked example would reveal the answer key. The example
is taken instead from another anchored task of the same domain, chosen by a keyed hash so the
choice is deterministic and does not depend on which other tasks exist.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pipelines.core.judge_prompt import WorkedExample
from pipelines.core.judging import JudgeJob
from pipelines.core.submission import Submission


def other_task_example(task: Submission, pool: Iterable[Submission], seed: str = "anchor-example") -> WorkedExample | None:
    candidates = [s for s in pool if s.anchor is not None and s.domain == task.domain
                  and s.benchmark == task.benchmark and s.submission_id != task.submission_id]
    if not candidates:
        return None

    def rank(s: Submission) -> str:
        return hashlib.sha256(f"{seed}\0{task.submission_id}\0{s.submission_id}".encode()).hexdigest()

    best = min(candidates, key=rank)
    return WorkedExample(best, best.anchor)


def agreement_jobs(gold: Iterable[Submission], pool: Iterable[Submission]) -> tuple[list[JudgeJob], dict, dict, list[str]]:
    """Judge jobs for the anchor answers of Gold tasks, ShotJudge and zero-shot.

    Returns (jobs, extra columns per job, expert verdicts {(task, checkpoint): met}, tasks whose
    ShotJudge job was skipped because no other anchored task of their domain exists).
    """
    pool = list(pool)
    jobs, extra, expert, skipped = [], {}, {}, []
    for s in gold:
        if s.anchor is None:
            continue
        expert.update({(s.submission_id, v.checkpoint_id): v.verdict == "met" for v in s.anchor.verdicts})
        example = other_task_example(s, pool)
        if example is None:
            skipped.append(s.submission_id)
        for mode, ex in (("shotjudge", example), ("zeroshot", None)):
            if mode == "shotjudge" and ex is None:
                continue
            key = (s.submission_id, mode)
            jobs.append(JudgeJob(key, s, s.anchor.response, ex, mode, {"task_id": s.submission_id,
                                                                           "candidate": "anchor"}))
            extra[key] = {"task_id": s.submission_id, "model": f"anchor:{s.anchor.model}",
                          "generation_call_key": None, "domain": s.domain}
    return jobs, extra, expert, skipped
