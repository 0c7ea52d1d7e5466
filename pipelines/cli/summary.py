"""Terminal summary after a run: what was read, quarantined, kept, sampled, and who leads."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from upath import UPath

from pipelines.core.columns import ci_text, fmt
from pipelines.locations import read_parquet


def _read(folder: UPath, name: str) -> pd.DataFrame | None:
    p = folder / f"{name}.parquet"
    return read_parquet(p) if p.exists() else None


def _counts_table(title: str, series: pd.Series, label: str) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column(label)
    t.add_column("count", justify="right")
    for k, v in series.value_counts().sort_index().items():
        t.add_row(str(k), str(v))
    return t


def _partitions(folder: UPath, name: str) -> dict[str, pd.DataFrame]:
    d = folder / name
    return {p.stem: read_parquet(p) for p in sorted(d.glob("*.parquet"))} if d.is_dir() else {}


def model_outcomes(folder: UPath) -> pd.DataFrame:
    """Per candidate: answers, failed calls, answers cut off at max_tokens, verdicts by outcome, and
    judge errors by kind (what went wrong, see pipelines/core/judging.py ERROR_KINDS)."""
    gens, judged = _partitions(folder, "generations"), _partitions(folder, "judgements")
    rows = []
    for model in sorted(set(gens) | set(judged)):
        g, j = gens.get(model), judged.get(model)
        row: dict[str, object] = {"model": model}
        if g is not None:
            row.update(answers=int(g["ok"].sum()), failed=int((~g["ok"]).sum()),
                       truncated=int(g["truncated"].sum()) if "truncated" in g
                       else int((g["finish_reason"] == "length").sum()))
        if j is not None:
            v = j["verdict"].value_counts()
            row.update(met=int(v.get("met", 0)), not_met=int(v.get("not_met", 0)),
                       judge_error=int(v.get("judge_error", 0)))
            kinds = j.loc[j["verdict"] == "judge_error", "error_kind"] if "error_kind" in j else pd.Series(dtype=str)
            row["judge errors by kind"] = ", ".join(f"{k} {n}" for k, n in kinds.fillna("unclassified")
                                                    .value_counts().items()) or "-"
        rows.append(row)
    cols = ["model", "answers", "failed", "truncated", "met", "not_met", "judge_error", "judge errors by kind"]
    return pd.DataFrame(rows, columns=cols).fillna("-")


def print_summary(folder: str | Path, console: Console | None = None, *, standin: bool = True) -> None:
    """`folder`: the assets base, a local folder or a URL (XPERTBENCH_ASSETS_URL)."""
    c = console or Console()
    folder = UPath(folder)
    subs, quar = _read(folder, "submissions"), _read(folder, "submission_quarantine")
    log, gold = _read(folder, "curation_log"), _read(folder, "gold_tasks")
    if subs is None or quar is None:
        c.print("[red]no materialised submissions found in[/red]", folder)
        return
    c.rule("XpertBench pipeline summary")
    c.print(f"submission files read: {len(subs) + len(quar)}  valid: {len(subs)}  quarantined: {len(quar)}")
    if len(quar):
        c.print(_counts_table("Quarantined by reason", quar["reason"], "reason"))
    if log is not None:
        kept = log[log["decision"] == "kept"]
        dropped = log[log["decision"] == "dropped"]
        c.print(f"curation: {len(kept)} tasks kept, {len(dropped)} dropped")
        if len(dropped):
            c.print(_counts_table("Dropped by rule", dropped["rule"], "rule"))
    if gold is not None:
        c.print(_counts_table(f"Gold subset: {len(gold)} tasks", gold["domain"], "domain"))
    outcomes = model_outcomes(folder)
    if len(outcomes):
        t = Table(title="Per model: answers and verdicts (judge errors by kind)", title_justify="left")
        for col in outcomes.columns:
            t.add_column(col, justify="left" if col in ("model", "judge errors by kind") else "right")
        for row in outcomes.itertuples(index=False):
            t.add_row(*(str(v) for v in row))
        c.print(t)
    board = _read(folder, "leaderboard")
    if board is not None and len(board):
        t = Table(title="Leaderboard (mean task score on Gold, %, 95% bootstrap CI)", title_justify="left")
        for col in ("rank", "model", "score", "95% CI", "tasks complete", "truncated"):
            t.add_column(col, justify="left" if col == "model" else "right")
        for r in board.itertuples():
            # Same units as the UI and the report: percent with one decimal, counts as integers.
            t.add_row(fmt(r.rank, "count"), r.model, fmt(r.score, "percent"),
                      ci_text(r.ci_lo, r.ci_hi, r.tasks_complete),
                      f"{fmt(r.tasks_complete, 'count')}/{fmt(r.tasks_gold, 'count')}",
                      fmt(getattr(r, "truncated_answers", None), "count") or "-")
        c.print(t)
        if standin:
            c.print("[dim]Stand-in models demonstrate the machinery; their scores say nothing about real models.[/dim]")
    report = folder / "report" / "report.html"
    if report.exists():
        c.print(f"report: {report}")
