"""Rubric quality checks. Findings are data (a table), never exceptions.

Severity `error` makes a task ineligible for Gold; `warning` is shown to the rubric's author. An error
must be right on real rubrics (HealthBench's physician rubrics included): the task<->rubric consistency
check only calls a rubric foreign when the task text gives it enough words in the rubric's language to
compare (`consistency_min_task_tokens`); otherwise it says, as a warning, that it could not check.
False-positive rate on hand-labelled imported tasks: tests/core/test_lint_real_rubrics.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.config import RubricConfig
from pipelines.core.submission import Submission
from pipelines.core.taxonomy import load_taxonomy
from pipelines.core.text import content_tokens, normalize, same_language, strip_must_not

_ENUMERATION = re.compile(r"(?:^|\s)(?:\(?[1-9][.)]|[a-e]\))\s")
_JOINERS = re.compile(r";|\bas well as\b|\band also\b|\bin addition\b|\badditionally\b", re.I)
_ALL_OF = re.compile(r"\b(?:all|each) of the following\b|\bsimultaneously\b", re.I)


@dataclass(frozen=True)
class Finding:
    submission_id: str
    checkpoint_id: str | None
    check: str
    severity: str  # "error" | "warning"
    message: str


def clause_count(criterion: str) -> int:
    """A rough count of independent requirements packed into one criterion."""
    enum = len(_ENUMERATION.findall(criterion))
    joins = len(_JOINERS.findall(criterion))
    gate = 3 if _ALL_OF.search(criterion) else 1
    return max(1 + joins, enum, gate)


def task_text(s: Submission) -> str:
    parts = [s.prompt_text(), s.reference_answer or ""]
    parts += [f"{a.name} {a.content or ''} {a.description or ''}" for a in s.attachments]
    return "\n".join(parts)


def consistency_share(s: Submission, text: str | None = None) -> float:
    """Share of criteria whose content words overlap the task text enough to be about this task."""
    vocab = content_tokens(text if text is not None else task_text(s))
    ok = 0
    for c in s.rubric:
        ct = content_tokens(strip_must_not(c.criterion))
        shared = len(ct & vocab)
        # Two shared content words, or a third of a short criterion's words, mark it as on-task.
        if ct and (shared >= 2 or shared / len(ct) >= 0.3):
            ok += 1
    return ok / len(s.rubric)


def lint_submission(s: Submission, cfg: RubricConfig) -> list[Finding]:
    sid = s.submission_id
    out: list[Finding] = []

    def add(cp: str | None, check: str, severity: str, msg: str) -> None:
        out.append(Finding(sid, cp, check, severity, msg))

    n = len(s.rubric)
    if not cfg.min_checkpoints <= n <= cfg.max_checkpoints:
        add(None, "checkpoint_count", "warning",
            f"{n} checkpoints, outside the expected {cfg.min_checkpoints}-{cfg.max_checkpoints}")

    by_level: dict[str, list[float]] = {}
    for c in s.rubric:
        if not c.criterion.strip():
            add(c.id, "empty_criterion", "error", "criterion text is empty")
            continue
        if len(c.criterion.strip()) < 10:
            add(c.id, "short_criterion", "warning", f"criterion {c.criterion.strip()!r} is very short; is it checkable?")
        if c.kind == "weighted":
            by_level.setdefault(c.importance, []).append(c.weight)
            lo, hi = cfg.weight_bands[c.importance]
        if c.kind == "weighted" and not lo <= c.weight <= hi:
            add(c.id, "weight_band", "warning",
                f"weight {c.weight:g} outside the {c.importance} band {lo:g}-{hi:g}")
        clauses = clause_count(c.criterion)
        if clauses > cfg.atomicity_max_clauses:
            add(c.id, "atomicity", "warning",
                f"criterion looks compound (~{clauses} requirements); split it into atomic checkpoints")
        starts_neg = bool(re.match(r"\s*must not\b", c.criterion, re.I))
        if starts_neg and c.polarity != "must_not" and c.kind == "weighted":
            add(c.id, "polarity", "warning", "criterion starts with 'Must not' but polarity is 'requirement'")
        if c.polarity == "must_not" and not starts_neg:
            add(c.id, "polarity", "warning", "polarity 'must_not' but the criterion does not start with 'Must not'")

    order = ["Essential", "Important", "Optional"]
    for hi_level, lo_level in zip(order, order[1:]):
        if by_level.get(hi_level) and by_level.get(lo_level):
            if max(by_level[lo_level]) > min(by_level[hi_level]):
                add(None, "weight_order", "error",
                    f"an {lo_level} checkpoint weighs {max(by_level[lo_level]):g}, more than the lightest "
                    f"{hi_level} one ({min(by_level[hi_level]):g})")

    tax = load_taxonomy()
    if s.category is not None and s.category not in tax.categories.get(s.domain, ()):
        add(None, "unknown_category", "warning",
            f"category {s.category!r} is not in validation/taxonomy.yaml for {s.domain}; add it there if intended")

    if s.anchor is not None:
        missing = [c.id for c in s.rubric if c.id not in {v.checkpoint_id for v in s.anchor.verdicts}]
        if missing:
            add(None, "anchor_coverage", "warning", f"anchor has no expert verdict for {', '.join(missing)}")

    text = task_text(s)
    rubric_text = "\n".join(c.criterion for c in s.rubric)
    evidence = len(content_tokens(text))
    share = consistency_share(s, text)
    if share >= cfg.consistency_min_share:
        return out
    if not same_language(text, rubric_text):
        add(None, "task_rubric_unchecked", "warning",
            "task<->rubric consistency not checked: the task and its rubric are in different languages")
    elif evidence < cfg.consistency_min_task_tokens:
        add(None, "task_rubric_unchecked", "warning",
            f"task<->rubric consistency not checked: the task text has {evidence} content words "
            f"(< {cfg.consistency_min_task_tokens}), too few to compare with the rubric")
    else:
        add(None, "task_rubric_mismatch", "error",
            f"only {share:.0%} of criteria share content words with the task and reference answer "
            f"(minimum {cfg.consistency_min_share:.0%}); the rubric may have been written for a different task")
    return out


def _criteria_key(s: Submission) -> frozenset[str]:
    return frozenset(normalize(c.criterion) for c in s.rubric if c.criterion.strip())


def copied_rubrics(subs: Sequence[Submission]) -> list[Finding]:
    """A rubric whose criteria are (nearly) all another task's, under a different prompt: a likely
    copy-paste. A warning naming the other task: which of the two owns it, words alone cannot tell."""
    keys = {s.submission_id: _criteria_key(s) for s in subs}
    prompts = {s.submission_id: normalize(s.prompt_text()) for s in subs}
    by_criterion: dict[str, set[str]] = {}
    for sid, k in keys.items():
        for c in k:
            by_criterion.setdefault(c, set()).add(sid)
    out = []
    for s in subs:
        mine = keys[s.submission_id]
        if len(mine) < 3:
            continue
        others = {o for c in mine for o in by_criterion[c]} - {s.submission_id}
        for o in sorted(others):
            shared = len(mine & keys[o]) / len(mine | keys[o])
            if shared >= 0.8 and prompts[o] != prompts[s.submission_id]:
                out.append(Finding(s.submission_id, None, "rubric_copied", "warning",
                                   f"{shared:.0%} of its criteria are the rubric of {o}, a task with another "
                                   "prompt; check that the rubric belongs to this task"))
                break
    return out


def lint_all(subs: Sequence[Submission], cfg: RubricConfig) -> list[Finding]:
    # Meta-evaluation sets are graded completions, not tasks: nothing to lint.
    subs = [s for s in subs if s.source.use == "benchmark"]
    findings = [f for s in subs for f in lint_submission(s, cfg)] + copied_rubrics(subs)
    # Name the better-matching task when a rubric was probably attached to the wrong prompt. (Only as
    # a hint: a long text of the same field matches any short rubric, so it is never evidence alone.)
    texts = {s.submission_id: task_text(s) for s in subs}
    by_id = {s.submission_id: s for s in subs}
    out = []
    for f in findings:
        if f.check == "task_rubric_mismatch":
            s = by_id[f.submission_id]
            others = [(consistency_share(s, t), sid) for sid, t in texts.items() if sid != s.submission_id]
            best = max(others, default=None)
            if best and best[0] >= cfg.consistency_min_share:
                f = Finding(f.submission_id, f.checkpoint_id, f.check, f.severity,
                            f.message + f"; it matches {best[1]} better ({best[0]:.0%})")
        out.append(f)
    return out
