"""Judge meta-evaluation on graded completions (schema 1.1 meta-evaluation sets, e.g. HealthBench's).

A set holds a conversation, criteria and completions, with one verdict per grader (physician) on a
criterion for a completion. The judge grades every completion on the criteria its graders labelled;
each grader's label is one (expert, judge) pair, so agreement is pairwise as in openai/simple-evals
`healthbench_meta_eval.py`, whose balanced F1 `healthbench_pairwise_f1` reproduces exactly. ShotJudge's
worked example is another set of the same benchmark and domain, its most-labelled completion graded by
its graders' majority (ties left out), so the judge never sees the labels of what it grades.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

from pipelines.core.judge_prompt import WorkedExample
from pipelines.core.judging import JudgeJob
from pipelines.core.submission import Anchor, AnchorVerdict, Submission


def _completion_view(s: Submission, completion_id: str) -> Submission:
    """The set restricted to the criteria graded for one completion (what the judge is asked)."""
    cps = [c for c in s.rubric if any(v.completion_id == completion_id for v in c.grader_verdicts)]
    return s.model_copy(update={"rubric": cps})


def graded_example(s: Submission) -> WorkedExample | None:
    """The set's most-labelled completion with its graders' majority verdicts, as a worked example."""
    counts = Counter(v.completion_id for c in s.rubric for v in c.grader_verdicts)
    if not counts:
        return None
    cid = min(counts, key=lambda k: (-counts[k], k))
    view = _completion_view(s, cid)
    verdicts = []
    for c in view.rubric:
        labels = [v.verdict == "met" for v in c.grader_verdicts if v.completion_id == cid]
        met, n = sum(labels), len(labels)
        if 2 * met != n:
            verdicts.append(AnchorVerdict(checkpoint_id=c.id, verdict="met" if 2 * met > n else "not_met",
                                          rationale=f"{met} of {n} graders judged this criterion met"))
    if not verdicts:
        return None
    response = next(x.response for x in s.completions if x.id == cid) or "(empty answer)"
    return WorkedExample(view, Anchor(model=f"graded completion {cid}", response=response, verdicts=verdicts))


def example_for(s: Submission, pool: Sequence[Submission], seed: str = "meta-eval-example") -> WorkedExample | None:
    candidates = [o for o in pool if o.submission_id != s.submission_id and o.benchmark == s.benchmark
                  and o.domain == s.domain]
    for o in sorted(candidates, key=lambda o: hashlib.sha256(
            f"{seed}\0{s.submission_id}\0{o.submission_id}".encode()).hexdigest()):
        ex = graded_example(o)
        if ex is not None:
            return ex
    return None


def meta_eval_jobs(sets: Iterable[Submission]) -> tuple[list[JudgeJob], dict, dict]:
    """Judge jobs (ShotJudge when another set gives a worked example, and zero-shot) for every graded
    completion, their extra columns, and the labels {(set, completion, criterion): [(grader, met)]}."""
    sets = [s for s in sets if s.source.use == "meta_eval"]
    jobs, extra, labels = [], {}, {}
    for s in sets:
        texts = {c.id: c.response for c in s.completions}
        example = example_for(s, sets)
        for cid in sorted({v.completion_id for c in s.rubric for v in c.grader_verdicts}):
            view = _completion_view(s, cid)
            for c in view.rubric:
                labels[(s.submission_id, cid, c.id)] = [(v.grader_id, v.verdict == "met")
                                                        for v in c.grader_verdicts if v.completion_id == cid]
            for mode, ex in (("shotjudge", example), ("zeroshot", None)):
                if mode == "shotjudge" and ex is None:
                    continue
                key = (s.submission_id, cid, mode)
                jobs.append(JudgeJob(key, view, texts[cid], ex, mode,
                                     {"task_id": s.submission_id, "candidate": f"completion:{cid}"}))
                extra[key] = {"task_id": s.submission_id, "model": f"completion:{cid}", "generation_call_key": None,
                              "domain": s.domain, "benchmark": s.benchmark, "completion_id": cid}
    return jobs, extra, labels


def physician_pairs(labels: dict) -> list[tuple[str, str, str, bool, bool]]:
    """(set, completion/criterion, grader, other grader's label, this grader's label): each grader against
    the others on the same completion and criterion, the reference's physician baseline, pooled."""
    out = []
    for (sid, cid, cp), labs in sorted(labels.items()):
        for i, (grader, mine) in enumerate(labs):
            out += [(sid, f"{cid}/{cp}", grader, other, mine) for j, (_, other) in enumerate(labs) if j != i]
    return out


def healthbench_pairwise_f1(self_preds: Sequence[bool], other_preds: Sequence[Sequence[bool]]) -> float | None:
    """HealthBench's meta-evaluation score, as `compute_metrics_for_rater_by_class` computes it: over every
    (rater label, other label) pair, precision and recall of each class, their F1, and the mean of the
    two F1s; None where a class was never predicted or never labelled (the reference's None)."""
    prec = {True: [], False: []}
    rec = {True: [], False: []}
    for mine, others in zip(self_preds, other_preds, strict=True):
        for other in others:
            prec[mine].append(mine == other)
            rec[other].append(mine == other)
    f1s = []
    for cls in (True, False):
        if not prec[cls] or not rec[cls]:
            return None
        p, r = sum(prec[cls]) / len(prec[cls]), sum(rec[cls]) / len(rec[cls])
        f1s.append(0.0 if p == 0 and r == 0 else 2 * p * r / (p + r))
    return (f1s[0] + f1s[1]) / 2
