"""`xpertbench trace TASK [--model M]`: the chain behind one task's score, from the raw file onwards.

Everything is read back from what the pipeline materialised (parquet tables and the Dagster
instance's materialisation records) and checked against the file on disk, so the trace shows what
was actually used, not what the code would do now.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from rich.console import Console
from rich.markup import escape
from upath import UPath

from pipelines.core.columns import fmt
from pipelines.locations import read_parquet
from pipelines.settings import Settings


def _read(folder: Path | UPath, name: str, partition: str | None = None) -> pd.DataFrame:
    folder = UPath(folder)
    p = folder / name / f"{partition}.parquet" if partition else folder / f"{name}.parquet"
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: materialise the pipeline first (make run)")
    return read_parquet(p)


def _dagster_versions(instance: dg.DagsterInstance | None, asset: str, partition: str | None = None) -> dict:
    if instance is None:
        return {}
    flt = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(flt, limit=1).records
    ev = records[0].event_log_entry if records else None
    if ev is None or ev.asset_materialization is None:
        return {}
    tags = ev.asset_materialization.tags or {}
    return {"run_id": ev.run_id, "code_version": tags.get("dagster/code_version"),
            "data_version": (tags.get("dagster/data_version") or "")[:16]}


def trace(task_id: str, model: str | None = None, assets_dir: Path | UPath | None = None,
          raw_dir: Path | None = None, instance: dg.DagsterInstance | None = None) -> dict[str, Any]:
    if assets_dir is None or raw_dir is None:
        s = Settings.load()
        assets_dir, raw_dir = assets_dir or UPath(s.assets_base), raw_dir or s.raw_dir
    assets_dir = UPath(assets_dir)
    subs = _read(assets_dir, "submissions")
    row = subs[subs["submission_id"] == task_id]
    if row.empty:
        quarantine = _read(assets_dir, "submission_quarantine")
        raise KeyError(f"{task_id!r} is not a valid submission "
                       f"({len(quarantine)} files are quarantined; see submission_quarantine)")
    r = row.iloc[0]
    path = raw_dir / r.source_path
    disk_sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    out: dict[str, Any] = {
        "task_id": task_id,
        "raw_file": {"path": str(path), "sha256_recorded": r.source_sha256, "sha256_on_disk": disk_sha,
                     "matches": disk_sha == r.source_sha256, **_dagster_versions(instance, "submissions")},
    }
    log = _read(assets_dir, "curation_log")
    d = log[log["submission_id"] == task_id].iloc[0]
    out["curation"] = {"decision": d.decision, "rule": None if pd.isna(d.rule) else d.rule, "detail": d.detail, "config": d.curation_config}
    rubrics = _read(assets_dir, "rubrics")
    rub = rubrics[rubrics["task_id"] == task_id]
    findings = _read(assets_dir, "rubric_findings")
    f = findings[findings["submission_id"] == task_id]
    out["rubric"] = {"rubric_hash": rub["rubric_hash"].iloc[0] if len(rub) else None, "checkpoints": len(rub),
                     "total_weight": float(rub["weight"].sum()) if len(rub) else 0.0,
                     "findings": [f"{x.severity}: {x.check}: {x.message}" for x in f.itertuples()]}
    gold = _read(assets_dir, "gold_tasks")
    g = gold[gold["task_id"] == task_id]
    out["gold"] = ({"in_gold": True, "domain": g.iloc[0].domain, "rank_in_domain": int(g.iloc[0].rank_in_domain),
                    "quota": int(g.iloc[0].quota), "sample_key": g.iloc[0].sample_key,
                    "config": g.iloc[0].gold_config}
                   if len(g) else {"in_gold": False})
    out["models"] = {}
    if not len(g):
        return out
    board_path = assets_dir / "leaderboard.parquet"
    board = read_parquet(board_path) if board_path.exists() else pd.DataFrame()
    models = [model] if model else sorted(p.stem for p in (assets_dir / "generations").glob("*.parquet"))
    for m in models:
        gen = _read(assets_dir, "generations", m)
        grows = gen[gen["task_id"] == task_id]
        grows = grows.sort_values("replicate") if "replicate" in grows else grows
        gr = grows.iloc[0]
        # One key per replicate (one by default), as in the provenance table.
        gen_keys = " ".join(grows["call_key"].dropna())
        if not gr.ok:
            # A failed generation is never judged or scored: say why and stop here for this model.
            out["models"][m] = {"generation_error": f"{gr.error_type}: {gr.error_message}",
                                "call_key": gen_keys}
            continue
        jd = _read(assets_dir, "judgements", m)
        jr = jd[jd["task_id"] == task_id].merge(rub[["checkpoint_id", "weight", "criterion"]], on="checkpoint_id")
        sc = _read(assets_dir, "task_scores", m)
        s = sc[sc["task_id"] == task_id].iloc[0]
        # The task's own board: scores of different benchmark sources are never averaged.
        bench = s.benchmark if "benchmark" in sc else None
        same = sc[sc["benchmark"] == bench] if bench is not None else sc
        n_complete = int(same["complete"].sum())
        share = (float(s.score) / n_complete) if s.complete and n_complete else None
        b = board[board["model"] == m] if len(board) else board
        if bench is not None and "benchmark" in b:
            b = b[b["benchmark"] == bench]
        out["models"][m] = {
            "generation": {"call_key": gen_keys, "prompt_template_hash": gr.prompt_template_hash,
                           "template_version": gr.template_version, "model_reported": gr.model_reported,
                           "finish_reason": gr.finish_reason, "tokens": [int(gr.input_tokens), int(gr.output_tokens)],
                           **_dagster_versions(instance, "generations", m)},
            "judge": {"judge_model": jr["judge_model"].iloc[0], "judge_config": jr["judge_config"].iloc[0],
                      "mode": jr["judge_mode"].iloc[0], "example_task_id": jr["example_task_id"].iloc[0],
                      "template_hash": jr["judge_template_hash"].iloc[0],
                      "call_keys": sorted(set(jr["judge_call_key"].dropna())),
                      "model_reported": jr["judge_model_reported"].dropna().iloc[0] if jr["judge_model_reported"].notna().any() else None,
                      **_dagster_versions(instance, "judgements", m)},
            "verdicts": [(x.checkpoint_id, float(x.weight), x.verdict, x.criterion, x.rationale or _error(x))
                         for x in jr.itertuples()],
            "score": {"score": None if pd.isna(s.score) else float(s.score), "status": s.status,
                      "weight_met": float(s.weight_met) if pd.notna(s.weight_met) else None,
                      "weight_judged": float(s.weight_judged) if pd.notna(s.weight_judged) else None},
            "leaderboard": {"model_score": float(b.iloc[0].score) if len(b) else None,
                            "tasks_complete": n_complete, "this_task_contributes": share},
        }
    return out


def _error(row) -> str:
    """A judge error's kind and reason (e.g. "[cut_off] invalid JSON: ... (reply cut off ...)")."""
    kind = getattr(row, "error_kind", None)
    reason = row.error_reason or ""
    return f"[{kind}] {reason}" if isinstance(kind, str) and kind else reason


def _wrapped(c: Console, label: str, text: str, indent: int = 4) -> None:
    """`label: text` wrapped at the console width on word boundaries, never cut; printed verbatim
    (no rich markup, so a "[cut_off]" in a rationale stays text)."""
    pad = " " * indent
    body = textwrap.fill(" ".join(str(text).split()) or "-", width=max(40, c.width), initial_indent=f"{pad}{label}: ",
                         subsequent_indent=pad + " " * (len(label) + 2), break_long_words=False, break_on_hyphens=False)
    c.print(body, markup=False, highlight=False, soft_wrap=True)


def _line(c: Console, text: str) -> None:
    # rich wraps on spaces: a hash or call key (one word) is never split.
    c.print(text, highlight=False)


def print_trace(instance: dg.DagsterInstance | None, task_id: str, model: str | None,
                console: Console | None = None, settings: Settings | None = None) -> int:
    c = console or Console()
    s = settings or Settings.load()
    try:
        t = trace(task_id, model, assets_dir=UPath(s.assets_base), raw_dir=s.raw_dir, instance=instance)
    except (KeyError, FileNotFoundError) as e:
        c.print(f"[red]{escape(str(e))}[/red]")
        return 1
    rf = t["raw_file"]
    c.rule(f"trace {task_id}")
    # Hashes and call keys in full: they are what one searches for in the UI's provenance table.
    _line(c, f"[bold]raw file[/bold] {escape(rf['path'])}")
    _line(c, f"  sha256 {rf['sha256_recorded']} "
          + ("[green](matches the file on disk)[/green]" if rf["matches"] else "[red](file on disk differs: refresh)[/red]"))
    cu = t["curation"]
    _wrapped(c, "curation", f"{cu['decision']}" + (f" by {cu['rule']}" if cu["rule"] else "")
             + f": {cu['detail']} (config {cu['config']})", indent=0)
    ru = t["rubric"]
    _line(c, f"[bold]rubric[/bold] {ru['checkpoints']} checkpoints, total weight {ru['total_weight']:g}")
    _line(c, f"  rubric hash {ru['rubric_hash']}")
    for finding in ru["findings"]:
        _wrapped(c, "lint", finding, indent=2)
    go = t["gold"]
    if not go["in_gold"]:
        _line(c, "[bold]gold[/bold] not in the Gold subset: no generations or scores")
        return 0
    _line(c, f"[bold]gold[/bold] {escape(go['domain'])} rank {go['rank_in_domain']} of quota {go['quota']} "
          f"(sample key {go['sample_key']}, config {go['config']})")
    for m, info in t["models"].items():
        c.rule(m)
        if "generation_error" in info:
            _line(c, "[red]generation failed[/red]: not judged, not scored")
            _wrapped(c, "error", info["generation_error"], indent=2)
            _line(c, f"  generation call key {info['call_key']}")
            continue
        gen, jd, sc, lb = info["generation"], info["judge"], info["score"], info["leaderboard"]
        _line(c, f"[bold]generation[/bold] template {escape(str(gen['template_version']))}, API model id "
              f"{escape(str(gen['model_reported']))}, finish {gen['finish_reason']}, tokens in/out "
              f"{gen['tokens'][0]}/{gen['tokens'][1]}")
        _line(c, f"  generation call key {gen['call_key']}")
        _line(c, f"  prompt template hash {gen['prompt_template_hash']}")
        _line(c, f"[bold]judge[/bold] {escape(str(jd['judge_model']))} (API id {escape(str(jd['model_reported']))}), "
              f"mode {jd['mode']}" + (f" with worked example from {escape(str(jd['example_task_id']))}"
                                      if jd["example_task_id"] else ""))
        _line(c, f"  judge config {jd['judge_config']}")
        _line(c, f"  judge template hash {jd['template_hash']}")
        for k in jd["call_keys"]:
            _line(c, f"  judge call key {k}")
        _line(c, f"[bold]verdicts[/bold] ({len(info['verdicts'])} checkpoints)")
        for cid, w, v, criterion, why in info["verdicts"]:
            c.print(f"  {cid}  weight {w:g}  {v}", markup=False, highlight=False, soft_wrap=True)
            _wrapped(c, "criterion", criterion)
            _wrapped(c, "rationale", why)
        if sc["score"] is not None:
            _line(c, f"[bold]score[/bold] {sc['weight_met']:g} / {sc['weight_judged']:g} = "
                  f"{fmt(sc['score'], 'percent')}% ({sc['status']})")
        if lb["this_task_contributes"] is not None and lb["model_score"] is not None:
            _line(c, f"[bold]leaderboard[/bold] {m} scores {fmt(lb['model_score'], 'percent')}% = mean of "
                  f"{lb['tasks_complete']} complete tasks; this task contributes "
                  f"{100 * lb['this_task_contributes']:.2f} percentage points")
    return 0
