"""Task curation: which valid submissions become benchmark tasks, with every decision recorded.

Rules run in a fixed order and the first that fails names the decision:
  1. expert_cap        at most N submissions per expert (the paper's policy), earliest kept
  2. missing_component the three components (scenario, background, deliverables) or a full prompt
  3. reference_answer  an expert reference answer of useful length
  4. language          declared language allowed, and consistent with the text's script
  5. exact_duplicate   same normalised prompt as an earlier kept task
  6. near_duplicate    shingled MinHash candidates, confirmed by exact Jaccard >= threshold
  7. difficulty_screen a screening model already scores above the threshold (when scores exist)
Meta-evaluation sets (`source.use: meta_eval`) are not tasks: they are logged as `meta_eval_set` and go
to `judge_agreement` only. Every rule is about one task and drops only that task: none can stop the run.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from datasketch import MinHash, MinHashLSH

from pipelines.config import CurationConfig
from pipelines.core.submission import Submission
from pipelines.core.text import cjk_share, normalize, shingles

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Decision:
    submission_id: str
    kept: bool
    rule: str | None = None
    detail: str = ""
    related_id: str | None = None


@dataclass(frozen=True)
class ScreeningScore:
    submission_id: str
    model: str
    score: float


def load_screening_scores(path: Path) -> dict[str, list[ScreeningScore]]:
    """CSV with columns submission_id, screening_model, score (0..1). Absent file: rule inactive."""
    if not path.exists():
        return {}
    out: dict[str, list[ScreeningScore]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out[row["submission_id"]].append(
                ScreeningScore(row["submission_id"], row["screening_model"], float(row["score"]))
            )
    return dict(out)


def _order_key(s: Submission) -> tuple:
    ts = s.submitted_at or _EPOCH
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return (ts, s.submission_id)


def prompt_hash(s: Submission) -> str:
    return hashlib.sha256(normalize(s.prompt_text()).encode()).hexdigest()


def _check_single(s: Submission, cfg: CurationConfig) -> tuple[str, str] | None:
    t = s.task
    required = set(cfg.required_fields.get(s.benchmark, ()))
    for name in ("expert", "category"):
        if name in required and getattr(s, name) is None:
            return "missing_field", f"{s.benchmark} tasks need {name}"
    if not t.prompt and t.messages is None:
        missing = [n for n in ("scenario", "background", "deliverables") if not (getattr(t, n) or "").strip()]
        if missing:
            return "missing_component", f"missing {', '.join(missing)} (and no full prompt)"
    min_chars = cfg.min_prompt_chars.get(s.benchmark, 1)
    if len(s.prompt_text().strip()) < min_chars:
        return "prompt_length", f"prompt has {len(s.prompt_text().strip())} chars < {min_chars}"
    ref = (s.reference_answer or "").strip()
    if not ref and "reference_answer" in required:
        return "reference_answer", "no reference answer"
    if ref and len(ref) < cfg.min_reference_answer_chars:
        return "reference_answer", f"reference answer has {len(ref)} chars < {cfg.min_reference_answer_chars}"
    lang = s.language.split("-")[0]
    if lang not in cfg.allowed_languages:
        return "language", f"language {s.language!r} not in allowed {list(cfg.allowed_languages)}"
    share = cjk_share(s.prompt_text())
    if lang == "en" and share > 0.3:
        return "language", f"declared 'en' but {share:.0%} of letters are CJK"
    if lang == "zh" and share < 0.3:
        return "language", f"declared 'zh' but only {share:.0%} of letters are CJK"
    return None


def curate(
    submissions: Sequence[Submission],
    cfg: CurationConfig,
    screening: dict[str, list[ScreeningScore]] | None = None,
) -> list[Decision]:
    """One decision per submission, in submission order (submitted_at, id)."""
    screening = screening or {}
    ordered = sorted(submissions, key=_order_key)
    decisions: dict[str, Decision] = {}

    for s in ordered:
        if s.source.use == "meta_eval":
            decisions[s.submission_id] = Decision(
                s.submission_id, False, "meta_eval_set",
                "graded completions for judge meta-evaluation (judge_agreement); not a benchmark task")

    per_expert: dict[str, list[str]] = defaultdict(list)
    for s in ordered:
        if s.submission_id in decisions:
            continue
        if s.expert is None:  # public sources have no expert; the cap does not apply
            continue
        per_expert[s.expert.id].append(s.submission_id)
        if len(per_expert[s.expert.id]) > cfg.max_per_expert:
            first = per_expert[s.expert.id][: cfg.max_per_expert]
            decisions[s.submission_id] = Decision(
                s.submission_id, False, "expert_cap",
                f"expert {s.expert.id} already has {cfg.max_per_expert} earlier submissions: {', '.join(first)}",
            )

    # LSH only proposes candidates (capped: very high thresholds leave it too few bands); every
    # candidate is confirmed by exact Jaccard on the shingle sets.
    lsh = MinHashLSH(threshold=min(cfg.near_duplicate_threshold, 0.9), num_perm=cfg.minhash_permutations)
    kept_shingles: dict[str, set[str]] = {}
    seen_hash: dict[str, str] = {}
    for s in ordered:
        sid = s.submission_id
        if sid in decisions:
            continue
        failure = _check_single(s, cfg)
        if failure:
            decisions[sid] = Decision(sid, False, *failure)
            continue
        h = prompt_hash(s)
        if h in seen_hash:
            decisions[sid] = Decision(sid, False, "exact_duplicate",
                                      f"same normalised prompt as {seen_hash[h]}", seen_hash[h])
            continue
        sh = shingles(s.prompt_text(), cfg.shingle_size)
        mh = MinHash(num_perm=cfg.minhash_permutations, seed=1)
        for g in sh:
            mh.update(g.encode())
        best = None
        for other in lsh.query(mh):
            o = kept_shingles[other]
            jac = len(sh & o) / max(1, len(sh | o))
            if jac >= cfg.near_duplicate_threshold and (best is None or jac > best[1]):
                best = (other, jac)
        if best:
            decisions[sid] = Decision(sid, False, "near_duplicate",
                                      f"Jaccard {best[1]:.3f} >= {cfg.near_duplicate_threshold} with {best[0]} "
                                      f"({cfg.shingle_size}-token shingles)", best[0])
            continue
        scores = screening.get(sid, [])
        top = max(scores, key=lambda x: x.score, default=None)
        if top is not None and top.score > cfg.difficulty_threshold:
            decisions[sid] = Decision(sid, False, "difficulty_screen",
                                      f"screening model {top.model} scored {top.score:.2f} > {cfg.difficulty_threshold}")
            continue
        seen_hash[h] = sid
        kept_shingles[sid] = sh
        lsh.insert(sid, mh)
        detail = "passed all rules" + ("" if screening else " (difficulty screen inactive: no scores)")
        decisions[sid] = Decision(sid, True, None, detail)
    return [decisions[s.submission_id] for s in ordered]
