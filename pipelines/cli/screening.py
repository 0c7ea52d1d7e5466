"""`xpertbench screening-scores`: one candidate's task scores become the difficulty screen's input.

The difficulty screen (curation rule `difficulty_screen`) drops a task that a screening model
already scores above `curation.difficulty_threshold`. Its input, `screening_scores.csv` in the raw
folder, comes from real runs of this pipeline: run the screening models as candidates on every
task, then export each one's scores with this command (see raw_submissions/README.md). Tasks
without a complete score (failed generation, too many judge errors) are left out: a judge failure
is never a score.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.settings import Settings

COLUMNS = ["submission_id", "screening_model", "score"]


def export_screening_scores(s: Settings, model: str, out: Path | None = None) -> tuple[Path, int]:
    """Write (or update) the screening file with `model`'s task scores; returns (path, rows written)."""
    src = s.assets_dir / "task_scores" / f"{model}.parquet"
    if not src.exists():
        raise FileNotFoundError(f"no task scores for {model!r} in {s.assets_dir}: run "
                                f"`xpertbench run --model {model}` with these settings first")
    scores = pd.read_parquet(src, columns=["task_id", "complete", "score"])
    scored = scores[scores["complete"].astype(bool) & scores["score"].notna()]
    new = pd.DataFrame({"submission_id": scored["task_id"], "screening_model": model, "score": scored["score"]})
    out = out or s.raw_dir / s.pipeline.curation.screening_scores_file
    if out.exists():  # other screening models' rows stay; this model's are replaced
        old = pd.read_csv(out, dtype={"submission_id": str, "screening_model": str})
        new = pd.concat([old[old["screening_model"] != model][COLUMNS], new], ignore_index=True)
    new = new.sort_values(["submission_id", "screening_model"]).reset_index(drop=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    new.to_csv(tmp, index=False, float_format="%.4f")
    tmp.replace(out)
    return out, len(scored)


def print_export(s: Settings, model: str, out: str | None) -> int:
    path, n = export_screening_scores(s, model, Path(out) if out else None)
    print(f"[xpertbench] wrote {n} task scores of {model} to {path}; the next run or refresh drops tasks "
          f"scored above curation.difficulty_threshold={s.pipeline.curation.difficulty_threshold:g}")
    return 0
