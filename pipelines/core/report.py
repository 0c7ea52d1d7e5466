"""Self-contained report (HTML with embedded images, and Markdown beside PNG files)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipelines.core import charts
from pipelines.core.aggregates import DOMAIN_ORDER, domain_table_wide

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1a1a1a;line-height:1.45}h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.8em}table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.note{color:#666;font-size:.9em}img{max-width:100%}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.8em}"""


@dataclass
class ReportInputs:
    leaderboard: pd.DataFrame
    domain_scores: pd.DataFrame
    category_scores: pd.DataFrame
    dimension_scores: pd.DataFrame
    importance_scores: pd.DataFrame
    paired_comparisons: pd.DataFrame
    rubric_item_analytics: pd.DataFrame
    cost_table: pd.DataFrame
    judge_agreement: pd.DataFrame
    task_scores: pd.DataFrame
    lineage: pd.DataFrame  # stage, rows
    quarantine: pd.DataFrame
    curation_log: pd.DataFrame
    config_text: dict[str, str] = field(default_factory=dict)  # file name -> contents
    standin_run: bool = True


def _pct(x: float) -> str:
    return "" if pd.isna(x) else f"{100 * x:.1f}"


def _fmt(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    return out


def _by_benchmark(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    if "benchmark" not in df or not len(df):
        return [("xpertbench", df)] if len(df) else []
    return [(b, g) for b, g in df.groupby(df["benchmark"].fillna("xpertbench"), sort=True)]


def _domain_sections(r: ReportInputs) -> list[tuple[str, str, pd.DataFrame | None, bytes | None]]:
    """Per benchmark source: the Table-3 layout, domain bars, heatmap and score distribution."""
    out = []
    ts = r.task_scores
    points = (set(ts.loc[ts["rubric_kind"] == "points", "benchmark"])
              if {"rubric_kind", "benchmark"} <= set(ts.columns) else set())
    for bench, dom in _by_benchmark(r.domain_scores):
        wide = domain_table_wide(dom)
        rule = ("points rubrics: clipped mean of unclipped task scores (HealthBench rule)" if bench in points
                else "weighted rubrics: mean of S = sum w x / sum w")
        out.append((f"Scores by domain: {bench}", f"Layout of the paper's Table 3 (%), Overall first; {rule}.",
                    wide.reset_index(), charts.domain_bars(dom[dom["domain"] != "Overall"], DOMAIN_ORDER)))
        if wide.shape[1] > 2:
            out.append((f"Model x domain heatmap: {bench}", "", None, charts.heatmap(wide)))
    for bench, ts in _by_benchmark(r.task_scores):
        out.append((f"Score distributions: {bench}", "", None, charts.distributions(ts)))
    return out


def _sections(r: ReportInputs) -> list[tuple[str, str, pd.DataFrame | None, bytes | None]]:
    """(title, note, table, png) in report order."""
    board = r.leaderboard.assign(score=r.leaderboard["score"].map(_pct),
                                 ci=[f"{_pct(a)} - {_pct(b)}" for a, b in zip(r.leaderboard["ci_lo"], r.leaderboard["ci_hi"])])
    cols = ["benchmark", "rank", "model", "score", "ci", "tasks_complete", "tasks_gold", "truncated_answers",
            "judge_error_rate", "note"]
    board = board[[c for c in cols if c in board]]
    agree_cols = [c for c in ("benchmark", "judge_mode", "scope", "n_tasks", "n_checkpoints", "n_labels",
                              "n_judge_errors", "agreement", "cdr", "cdr_lo", "cdr_hi", "kappa", "balanced_f1",
                              "healthbench_f1") if c in r.judge_agreement]
    agree = r.judge_agreement[agree_cols] if len(r.judge_agreement) else None
    items = r.rubric_item_analytics
    flagged = items[items["flag"] != ""].sort_values(["flag", "task_id"])[
        ["task_id", "checkpoint_id", "flag", "models_met", "models_judged", "criterion"]] if len(items) else None
    dropped = r.curation_log[r.curation_log["decision"] == "dropped"]
    ts = r.task_scores
    truncated = (ts[ts["answer_truncated"].fillna(False).astype(bool)][["model", "task_id", "domain", "status", "score"]]
                 .sort_values(["model", "task_id"]) if "answer_truncated" in ts and len(ts) else None)
    return [
        ("Leaderboard", "One board per benchmark source; scores of different sources are never averaged. "
         "Weighted rubrics (XpertBench): mean task score S = sum w x / sum w over Gold tasks. Points rubrics "
         "(HealthBench): achieved points over positive points per task, unclipped; the mean is clipped to "
         "[0, 1]. 95% percentile bootstrap CI over tasks (each replicate clipped for points). truncated_answers: Gold "
         "answers that stopped at the model's max_tokens (finish_reason length); they are scored as judged (or were "
         "regenerated with a larger limit, per generation.truncation).", board, None),
        ("Truncated answers", "Candidate answers that stopped at max_tokens, per model and task: the judge graded "
         "what was there. Raise the model's max_tokens or set generation.truncation: regenerate.", truncated, None),
        *_domain_sections(r),
        ("Paired comparisons", "Difference in mean task score on shared tasks (a - b), paired bootstrap CI, "
         "per benchmark source.", r.paired_comparisons, None),
        ("Judge agreement with experts", "The judge grades expert-graded answers: XpertBench anchor answers, and "
         "the completions physicians labelled in meta-evaluation sets (HealthBench format; every physician's "
         "label counts, pairwise, as in simple-evals). CDR = P(agree) - P(disagree) (the paper reports 52.0% "
         "for ShotJudge); healthbench_f1 is HealthBench's balanced F1 (its meta-evaluation score). ShotJudge "
         "uses a worked example from another task of the same benchmark and domain, so the judge never sees "
         "the key to the answer it grades.", agree, None),
        ("Scores by category", "", r.category_scores, None),
        ("Rubric dimensions", "Checkpoints met per dimension (the paper's 16 dimensions).", r.dimension_scores, None),
        ("Importance levels", "Met rates for Essential / Important / Optional checkpoints.", r.importance_scores, None),
        ("Rubric items no model meets or every model meets", "", flagged, None),
        ("Cost", "Tokens and cost per role and model (stand-in prices in models.yaml are fictional).", r.cost_table, None),
        ("Lineage", "Rows per stage, from raw files to scores.", r.lineage, None),
        ("Quarantined submissions", "", r.quarantine[["source_path", "reason", "message"]] if len(r.quarantine) else None, None),
        ("Curation decisions (dropped)", "", dropped[["submission_id", "rule", "detail"]] if len(dropped) else None, None),
    ]


def render(r: ReportInputs, out_dir: Path) -> tuple[Path, Path]:
    """Writes report.html (images inline) and report.md (+ images/*.png). Returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    img_dir = out_dir / "images"
    img_dir.mkdir(exist_ok=True)
    # No build time in the page: the same inputs give byte-identical files (the asset's content hash);
    # when it was built is in the Dagster materialisation record.
    banner = ("This run used the built-in stand-in models: the numbers demonstrate the pipeline, not model quality. "
              "The stand-in judge grades by lexical overlap and ignores the worked example, so its ShotJudge and "
              "zero-shot agreement figures coincide; a real judge shows the difference."
              if r.standin_run else "")
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>XpertBench report</title><style>{CSS}</style>"
         f"</head><body><h1>XpertBench report</h1><p class='note'>{html.escape(banner)}</p>"]
    md = [f"# XpertBench report\n\n{banner}\n"]
    for i, (title, note, table, png) in enumerate(_sections(r)):
        h.append(f"<h2>{html.escape(title)}</h2>")
        md.append(f"\n## {title}\n")
        if note:
            h.append(f"<p class='note'>{html.escape(note)}</p>")
            md.append(f"{note}\n")
        if png:
            name = f"fig{i:02d}.png"
            (img_dir / name).write_bytes(png)
            h.append(f"<img alt='{html.escape(title)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
            md.append(f"![{title}](images/{name})\n")
        if table is not None and len(table):
            h.append(_fmt(table).to_html(index=False, escape=True, border=0))
            md.append(_fmt(table).to_markdown(index=False) + "\n")
        elif png is None:
            h.append("<p class='note'>(nothing to show)</p>")
            md.append("_(nothing to show)_\n")
    h.append("<h2>Configuration used</h2>")
    md.append("\n## Configuration used\n")
    for name, text in r.config_text.items():
        h.append(f"<h3>{html.escape(name)}</h3><pre>{html.escape(text)}</pre>")
        md.append(f"\n### {name}\n\n```yaml\n{text}\n```\n")
    h.append("</body></html>")
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    html_path.write_text("\n".join(h), encoding="utf-8")
    md_path.write_text("\n".join(md), encoding="utf-8")
    return html_path, md_path
