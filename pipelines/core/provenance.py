"""One model's provenance table: for each Gold task, every hash and call key behind its score.

Built from the rows the pipeline materialised (tasks, rubrics, generations, judgements, scores), so
it shows what was used, the same chain `xpertbench trace` reads back one task at a time.
"""

from __future__ import annotations

import pandas as pd

PROVENANCE_COLUMNS = [
    "task_id", "model", "benchmark", "domain", "source_path", "source_sha256", "rubric_hash",
    "prompt_template_hash", "judge_template_hash", "generation_call_key", "judge_call_keys", "model_reported",
    "judge_model", "judge_model_reported", "judge_config", "status", "score",
]


def _first(values: pd.Series) -> str | None:
    v = values.dropna()
    return str(v.iloc[0]) if len(v) else None


def provenance_rows(task_scores: pd.DataFrame, generations: pd.DataFrame, judgements: pd.DataFrame,
                    tasks: pd.DataFrame, rubrics: pd.DataFrame, model: str) -> pd.DataFrame:
    """One row per scored (Gold) task of `model`; a task whose generation failed has no judge columns."""
    src = tasks.set_index("task_id")[["source_path", "source_sha256"]]
    rubric_hash = rubrics.groupby("task_id")["rubric_hash"].first()
    gens = generations.groupby("task_id")
    judged = judgements.groupby("task_id")
    rows = []
    for s in task_scores.itertuples():
        g = gens.get_group(s.task_id) if s.task_id in gens.groups else generations.iloc[0:0]
        g = g.sort_values("replicate") if "replicate" in g else g
        gen = g.iloc[0] if len(g) else None
        j = judged.get_group(s.task_id) if s.task_id in judged.groups else judgements.iloc[0:0]
        rows.append({
            "task_id": s.task_id, "model": model, "benchmark": s.benchmark, "domain": s.domain,
            "source_path": src.at[s.task_id, "source_path"] if s.task_id in src.index else None,
            "source_sha256": src.at[s.task_id, "source_sha256"] if s.task_id in src.index else None,
            "rubric_hash": rubric_hash.get(s.task_id),
            "prompt_template_hash": None if gen is None else gen["prompt_template_hash"],
            "judge_template_hash": _first(j["judge_template_hash"]),
            # One key per replicate (one by default), in replicate order.
            "generation_call_key": " ".join(g["call_key"].dropna()) or None,
            "judge_call_keys": " ".join(sorted(set(j["judge_call_key"].dropna()))) or None,
            "model_reported": None if gen is None else gen["model_reported"],
            "judge_model": _first(j["judge_model"]),
            "judge_model_reported": _first(j["judge_model_reported"]),
            "judge_config": _first(j["judge_config"]),
            "status": s.status, "score": None if pd.isna(s.score) else float(s.score),
        })
    return pd.DataFrame(rows, columns=PROVENANCE_COLUMNS).astype({"score": "float64"})
