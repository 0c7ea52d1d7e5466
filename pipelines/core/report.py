"""Self-contained report (HTML with embedded images, and Markdown beside PNG files)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipelines.core import charts
from pipelines.core.aggregates import DOMAIN_ORDER, domain_table_wide
from pipelines.core.columns import format_frame, is_numeric, with_ci

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1a1a1a;line-height:1.45}h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.8em}table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}th{background:#f3f3f3}
.num{text-align:right;font-variant-numeric:tabular-nums}.note{color:#666;font-size:.9em}img{max-width:100%}
summary{cursor:pointer;color:#245;margin:.4em 0}
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


# Tables longer than this are folded (<details>) in both the HTML and the Markdown report.
LONG_TABLE_ROWS = 15
_NUMBER = re.compile(r"^-?\d[\d,]*(\.\d+)?( - -?\d[\d,]*(\.\d+)?)?$")


@dataclass
class Section:
    title: str
    note: str = ""
    table: pd.DataFrame | None = None
    png: bytes | None = None
    asset: str | None = None  # whose column units apply (pipelines/core/columns.py)


def _aligned(table: pd.DataFrame, asset: str | None) -> tuple[pd.DataFrame, list[bool]]:
    """Display text per cell (by unit) and, per column, whether it is numeric (right-aligned).

    A column is numeric when its unit is, or when every filled cell reads as a number or a CI
    (pre-formatted columns such as the Table-3 layout); everything else is text, left-aligned.
    """
    text = format_frame(table, asset)
    numeric = [is_numeric(asset, str(c)) or (text[c].ne("").any() and text[c].map(
        lambda v: v == "" or bool(_NUMBER.match(v))).all()) for c in text.columns]
    return text, numeric


def _html_table(text: pd.DataFrame, numeric: list[bool]) -> str:
    cls = [" class='num'" if n else "" for n in numeric]
    head = "".join(f"<th{k}>{html.escape(str(c))}</th>" for c, k in zip(text.columns, cls))
    body = "".join("<tr>" + "".join(f"<td{k}>{html.escape(v)}</td>" for v, k in zip(row, cls)) + "</tr>"
                   for row in text.itertuples(index=False, name=None))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(text: pd.DataFrame, numeric: list[bool]) -> str:
    # disable_numparse: "50.0" stays "50.0" (tabulate would print 50) and text stays as written.
    return text.to_markdown(index=False, disable_numparse=True,
                            colalign=["right" if n else "left" for n in numeric])


def _fold(n_rows: int) -> str:
    return f"Show all {n_rows} rows"


def _by_benchmark(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    if "benchmark" not in df or not len(df):
        return [("xpertbench", df)] if len(df) else []
    return [(b, g) for b, g in df.groupby(df["benchmark"].fillna("xpertbench"), sort=True)]


def _domain_sections(r: ReportInputs) -> list[Section]:
    """Per benchmark source: the Table-3 layout, domain bars, heatmap and score distribution."""
    out = []
    ts = r.task_scores
    points = (set(ts.loc[ts["rubric_kind"] == "points", "benchmark"])
              if {"rubric_kind", "benchmark"} <= set(ts.columns) else set())
    for bench, dom in _by_benchmark(r.domain_scores):
        wide = domain_table_wide(dom)
        rule = ("points rubrics: clipped mean of unclipped task scores (HealthBench rule)" if bench in points
                else "weighted rubrics: mean of S = sum w x / sum w")
        # Already in percent: shown with one decimal, as the paper's Table 3.
        table3 = wide.reset_index().astype(object)
        for c in wide.columns:
            table3[c] = [f"{v:.1f}" if pd.notna(v) else "" for v in wide[c]]
        out.append(Section(f"Scores by domain: {bench}", f"Layout of the paper's Table 3 (%), Overall first; {rule}.",
                           table3, charts.domain_bars(dom[dom["domain"] != "Overall"], DOMAIN_ORDER)))
        if wide.shape[1] > 2:
            out.append(Section(f"Model x domain heatmap: {bench}", png=charts.heatmap(wide)))
    for bench, ts in _by_benchmark(r.task_scores):
        out.append(Section(f"Score distributions: {bench}", png=charts.distributions(ts)))
    return out


CI_NOTE = ("Scores and CIs in %. A CI from fewer than 2 tasks, or from tasks that all scored alike, is shown as "
           "n/a with the reason: the bootstrap cannot say anything there.")


def _sections(r: ReportInputs) -> list[Section]:
    """The report's sections in order."""
    board = with_ci(r.leaderboard, "tasks_complete")
    cols = ["benchmark", "rank", "model", "score", "ci", "tasks_complete", "tasks_gold", "truncated_answers",
            "judge_error_rate", "note"]
    board = board[[c for c in cols if c in board]]
    agree_cols = [c for c in ("benchmark", "judge_mode", "scope", "n_tasks", "n_checkpoints", "n_labels",
                              "n_judge_errors", "agreement", "cdr", "cdr_ci", "kappa", "balanced_f1",
                              "healthbench_f1") if c in r.judge_agreement or c == "cdr_ci"]
    agree = (with_ci(r.judge_agreement, "n_tasks", "cdr_lo", "cdr_hi", "cdr_ci")[agree_cols]
             if len(r.judge_agreement) else None)
    items = r.rubric_item_analytics
    flagged = items[items["flag"] != ""].sort_values(["flag", "task_id"])[
        ["task_id", "checkpoint_id", "flag", "models_met", "models_judged", "criterion"]] if len(items) else None
    dropped = r.curation_log[r.curation_log["decision"] == "dropped"]
    ts = r.task_scores
    truncated = (ts[ts["answer_truncated"].fillna(False).astype(bool)][["model", "task_id", "domain", "status", "score"]]
                 .sort_values(["model", "task_id"]) if "answer_truncated" in ts and len(ts) else None)
    return [
        Section("Leaderboard", "One board per benchmark source; scores of different sources are never averaged. "
                "Weighted rubrics (XpertBench): mean task score S = sum w x / sum w over Gold tasks. Points rubrics "
                "(HealthBench): achieved points over positive points per task, unclipped; the mean is clipped to "
                "[0, 1]. 95% percentile bootstrap CI over tasks (each replicate clipped for points). truncated_answers: Gold "
                "answers that stopped at the model's max_tokens (finish_reason length); they are scored as judged (or were "
                "regenerated with a larger limit, per generation.truncation). " + CI_NOTE, board, asset="leaderboard"),
        Section("Truncated answers", "Candidate answers that stopped at max_tokens, per model and task: the judge graded "
                "what was there. Raise the model's max_tokens or set generation.truncation: regenerate.", truncated,
                asset="task_scores"),
        *_domain_sections(r),
        Section("Paired comparisons", "Difference in mean task score on shared tasks (a - b), paired bootstrap CI, "
                "per benchmark source, in percentage points.", with_ci(r.paired_comparisons, "shared_tasks"),
                asset="paired_comparisons"),
        Section("Judge agreement with experts", "The judge grades expert-graded answers: XpertBench anchor answers, and "
                "the completions physicians labelled in meta-evaluation sets (HealthBench format; every physician's "
                "label counts, pairwise, as in simple-evals). CDR = P(agree) - P(disagree) (the paper reports 52.0% "
                "for ShotJudge); healthbench_f1 is HealthBench's balanced F1 (its meta-evaluation score). ShotJudge "
                "uses a worked example from another task of the same benchmark and domain, so the judge never sees "
                "the key to the answer it grades. Figures in % except kappa.", agree, asset="judge_agreement"),
        Section("Scores by category", CI_NOTE, with_ci(r.category_scores, "n_tasks"), asset="category_scores"),
        Section("Rubric dimensions", "Checkpoints met per dimension (the paper's 16 dimensions).", r.dimension_scores,
                asset="dimension_scores"),
        Section("Importance levels", "Met rates for Essential / Important / Optional checkpoints.", r.importance_scores,
                asset="importance_scores"),
        Section("Rubric items no model meets or every model meets", "", flagged, asset="rubric_item_analytics"),
        Section("Cost", "Tokens and cost per role and model (stand-in prices in models.yaml are fictional).", r.cost_table,
                asset="cost_table"),
        Section("Lineage", "Rows per stage, from raw files to scores.", r.lineage, asset="lineage"),
        Section("Quarantined submissions", "", r.quarantine[["source_path", "reason", "message"]] if len(r.quarantine) else None,
                asset="submission_quarantine"),
        Section("Curation decisions (dropped)", "", dropped[["submission_id", "rule", "detail"]] if len(dropped) else None,
                asset="curation_log"),
    ]


def render(r: ReportInputs, out_dir: Path) -> tuple[Path, Path]:
    """Writes report.html (images inline) and report.md (+ images/*.png). Returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    img_dir = out_dir / "images"
    img_dir.mkdir(exist_ok=True)
    for old in img_dir.glob("*.png"):  # charts of an earlier layout must not linger beside the new ones
        old.unlink()
    # No build time in the page: the same inputs give byte-identical files (the asset's content hash);
    # when it was built is in the Dagster materialisation record.
    banner = ("This run used the built-in stand-in models: the numbers demonstrate the pipeline, not model quality. "
              "The stand-in judge grades by lexical overlap and ignores the worked example, so its ShotJudge and "
              "zero-shot agreement figures coincide; a real judge shows the difference."
              if r.standin_run else "")
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>XpertBench report</title><style>{CSS}</style>"
         f"</head><body><h1>XpertBench report</h1><p class='note'>{html.escape(banner)}</p>"]
    md = [f"# XpertBench report\n\n{banner}\n"]
    for i, sec in enumerate(_sections(r)):
        h.append(f"<h2>{html.escape(sec.title)}</h2>")
        md.append(f"\n## {sec.title}\n")
        if sec.note:
            h.append(f"<p class='note'>{html.escape(sec.note)}</p>")
            md.append(f"{sec.note}\n")
        if sec.png:
            name = f"{i:02d}_{re.sub(r'[^a-z0-9]+', '_', sec.title.lower()).strip('_')}.png"
            (img_dir / name).write_bytes(sec.png)
            h.append(f"<img alt='{html.escape(sec.title)}' src='data:image/png;base64,{base64.b64encode(sec.png).decode()}'>")
            md.append(f"![{sec.title}](images/{name})\n")
        if sec.table is not None and len(sec.table):
            text, numeric = _aligned(sec.table, sec.asset)
            table_html, table_md = _html_table(text, numeric), _md_table(text, numeric)
            if len(text) > LONG_TABLE_ROWS:  # long tables fold, so the page stays readable
                table_html = f"<details><summary>{_fold(len(text))}</summary>{table_html}</details>"
                table_md = f"<details><summary>{_fold(len(text))}</summary>\n\n{table_md}\n\n</details>"
            h.append(table_html)
            md.append(table_md + "\n")
        elif sec.png is None:
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
