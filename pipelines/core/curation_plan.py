"""Curation and Gold computed in memory, as the curation assets compute them, for dry runs.

`xpertbench estimate` and the run's context-window preflight need the Gold tasks before anything is
materialised (a fresh checkout) or without trusting materialised files that may be stale. Same
functions, same order, same inputs as pipelines/defs/{ingest,curation,rubrics,gold}.py;
tests/pipeline/test_sample_corpus.py checks that both give the same tasks and Gold.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.config import PipelineConfig
from pipelines.core.curation import curate, load_screening_scores
from pipelines.core.gold import select_gold
from pipelines.core.intake import parse_folder
from pipelines.core.rubric_lint import lint_all
from pipelines.core.submission import Submission


def curate_in_memory(raw_dir: Path, cfg: PipelineConfig) -> tuple[dict[str, Submission], list[str]]:
    """(kept tasks by id, in curation order; Gold task ids in Gold order)."""
    # Through JSON, as the assets pass submissions on (payload_json): the very same objects come out.
    subs = [Submission.model_validate_json(r.submission.model_dump_json())
            for r in parse_folder(raw_dir, cfg.intake.max_file_bytes) if r.submission is not None]
    decisions = curate(subs, cfg.curation, load_screening_scores(raw_dir / cfg.curation.screening_scores_file))
    by_id = {s.submission_id: s for s in subs}
    kept = {d.submission_id: by_id[d.submission_id] for d in decisions if d.kept}
    blocked = {f.submission_id for f in lint_all(subs, cfg.rubric) if f.severity == "error"}
    eligible = [(sid, s.domain) for sid, s in kept.items() if sid not in blocked]
    return kept, [p.task_id for p in select_gold(eligible, cfg.gold)]
