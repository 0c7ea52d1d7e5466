"""Aggregate tables over Gold: leaderboard, per-domain/category/dimension/importance, pairs, items, cost.

Pure functions over DataFrames. Uncertainty comes from bootstrapping tasks (seeded). The unit of
analysis is the task: only complete task scores enter means; incomplete ones are counted.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from pipelines.config import StatsConfig
from pipelines.core.scoring import clipped_bootstrap
from pipelines.core.stats import bootstrap_mean, paired_bootstrap_diff

DOMAIN_ORDER = ["Finance", "Law", "Education", "Engineering & Applied Sciences", "Humanities & Social Sciences",
                "Computer Science", "Healthcare"]


def _complete(scores: pd.DataFrame) -> pd.DataFrame:
    return scores[scores["complete"].astype(bool) & scores["score"].notna()]


def with_benchmark(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores with a benchmark column (rows written before it existed are XpertBench's)."""
    scores = scores.copy()
    if "benchmark" not in scores:
        scores["benchmark"] = "xpertbench"
    scores["benchmark"] = scores["benchmark"].fillna("xpertbench")
    return scores


def points_benchmarks(scores: pd.DataFrame) -> set[str]:
    return set(scores.loc[scores["rubric_kind"] == "points", "benchmark"]) if "rubric_kind" in scores else set()


def mean_ci(values: pd.Series, points: bool, cfg: StatsConfig) -> tuple[float, float, float]:
    """The benchmark's aggregate with its bootstrap CI: plain mean (weighted rubrics) or the HealthBench
    clipped mean, each replicate clipped too (points rubrics)."""
    if points and len(values):
        value, _, lo, hi = clipped_bootstrap(values, samples=cfg.bootstrap_samples, confidence=cfg.confidence,
                                             seed=cfg.seed)
        return value, lo, hi
    est = bootstrap_mean(values, samples=cfg.bootstrap_samples, confidence=cfg.confidence, seed=cfg.seed)
    return est.value, est.lo, est.hi


def leaderboard(scores: pd.DataFrame, judgements: pd.DataFrame, cfg: StatsConfig,
                max_judge_error_rate: float) -> pd.DataFrame:
    """One board per benchmark source (never an average across them); ranks are within a benchmark.

    Points rubrics (HealthBench) use the reference aggregate: the mean of unclipped task scores,
    clipped to [0, 1], with each bootstrap replicate's mean clipped the same way."""
    scores = with_benchmark(scores)
    points = points_benchmarks(scores)
    rows = []
    for (bench, model), g in scores.groupby(["benchmark", "model"], sort=True):
        ok = _complete(g)
        value, lo, hi = mean_ci(ok["score"], bench in points, cfg)
        j = judgements[judgements["model"] == model]
        if "task_id" in j and "task_id" in g:
            j = j[j["task_id"].isin(g["task_id"])]
        err = float((j["verdict"] == "judge_error").mean()) if len(j) else 0.0
        note = (f"judge error rate {err:.1%} above {max_judge_error_rate:.1%}" if err > max_judge_error_rate
                else "no complete tasks" if len(ok) == 0 else "")
        # Answers cut off at max_tokens among the model's Gold tasks: judged as they are, so shown beside the score.
        truncated = int(g["answer_truncated"].fillna(False).astype(bool).sum()) if "answer_truncated" in g else 0
        rows.append({
            "benchmark": bench, "model": model, "score": value, "ci_lo": lo, "ci_hi": hi,
            "tasks_complete": len(ok), "tasks_gold": len(g), "truncated_answers": truncated,
            "judge_error_rate": err, "excluded": bool(note), "note": note,
        })
    board = pd.DataFrame(rows, columns=["benchmark", "model", "score", "ci_lo", "ci_hi", "tasks_complete",
                                        "tasks_gold", "truncated_answers", "judge_error_rate", "excluded", "note"])
    board = board.sort_values(["benchmark", "excluded", "score"], ascending=[True, True, False],
                              na_position="last").reset_index(drop=True)
    rank = np.zeros(len(board), dtype=int)
    for _, idx in board.groupby("benchmark", sort=False).groups.items():
        n = 0
        for i in idx:
            if not board.at[i, "excluded"]:
                n += 1
                rank[i] = n
    board.insert(0, "rank", rank)
    return board


def group_scores(scores: pd.DataFrame, by: str, cfg: StatsConfig, overall: bool = True) -> pd.DataFrame:
    """Mean task score per benchmark, model and group (domain, category), with a bootstrap CI; plus
    Overall per benchmark. Benchmarks are never pooled; points benchmarks use the clipped mean."""
    scores = with_benchmark(scores)
    points = points_benchmarks(scores)
    ok = _complete(scores)
    rows = []
    for (bench, model, grp), g in ok.groupby(["benchmark", "model", by], sort=True):
        value, lo, hi = mean_ci(g["score"], bench in points, cfg)
        rows.append({"benchmark": bench, "model": model, by: grp, "score": value, "ci_lo": lo, "ci_hi": hi,
                     "n_tasks": len(g)})
    if overall:
        for (bench, model), g in ok.groupby(["benchmark", "model"], sort=True):
            value, lo, hi = mean_ci(g["score"], bench in points, cfg)
            rows.append({"benchmark": bench, "model": model, by: "Overall", "score": value, "ci_lo": lo,
                         "ci_hi": hi, "n_tasks": len(g)})
    return pd.DataFrame(rows, columns=["benchmark", "model", by, "score", "ci_lo", "ci_hi", "n_tasks"])


def domain_table_wide(domain_scores: pd.DataFrame, benchmark: str | None = None) -> pd.DataFrame:
    """The paper's Table 3 layout for one benchmark (default: the only one, or xpertbench): one row
    per model, Overall then one column per domain (in %)."""
    if "benchmark" in domain_scores:
        names = sorted(set(domain_scores["benchmark"]))
        benchmark = benchmark or ("xpertbench" if "xpertbench" in names or not names else names[0])
        domain_scores = domain_scores[domain_scores["benchmark"] == benchmark]
    wide = domain_scores.pivot(index="model", columns="domain", values="score") * 100
    cols = ["Overall"] + [d for d in DOMAIN_ORDER if d in wide.columns]
    wide = wide.reindex(columns=cols).sort_values("Overall", ascending=False).round(2)
    wide.columns.name = None
    return wide


def checkpoint_frame(judgements: pd.DataFrame, rubrics: pd.DataFrame) -> pd.DataFrame:
    return judgements.merge(
        rubrics[["task_id", "checkpoint_id", "weight", "importance", "dimension", "criterion", "domain"]],
        on=["task_id", "checkpoint_id"], how="left")


def met_rates(cp: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per model and group: share of judged checkpoints met, and the weight-weighted met rate.

    A group whose every row is a judge error is kept (checkpoints 0, rates NaN, its judge_errors),
    so a judge outage in one dimension shows up instead of the dimension silently vanishing.
    """
    judged = cp[cp["verdict"] != "judge_error"].copy()
    judged["met_f"] = judged["met"].astype(float)
    judged["w_met"] = judged["met_f"] * judged["weight"]
    agg = judged.groupby(["model", by], sort=True).agg(
        checkpoints=("met_f", "size"), met=("met_f", "sum"), weight=("weight", "sum"), weight_met=("w_met", "sum"))
    errors = cp[cp["verdict"] == "judge_error"].groupby(["model", by]).size().rename("judge_errors")
    out = agg.join(errors, how="outer").sort_index()
    out = out.fillna({"judge_errors": 0, "checkpoints": 0, "met": 0.0, "weight": 0.0, "weight_met": 0.0})
    out["checkpoints"] = out["checkpoints"].astype(int)
    out["judge_errors"] = out["judge_errors"].astype(int)
    out["met_rate"] = (out["met"] / out["checkpoints"]).where(out["checkpoints"] > 0)
    out["weighted_met_rate"] = (out["weight_met"] / out["weight"]).where(out["weight"] > 0)
    out = out.reset_index()
    return out[["model", by, "checkpoints", "met", "met_rate", "weighted_met_rate", "judge_errors"]]


def paired_comparisons(scores: pd.DataFrame, cfg: StatsConfig) -> pd.DataFrame:
    """Per benchmark source, each pair of models on their shared complete tasks."""
    ok = _complete(with_benchmark(scores))
    rows = []
    for bench, g in ok.groupby("benchmark", sort=True):
        rows += _pairs(bench, g.pivot(index="task_id", columns="model", values="score"), cfg)
    return pd.DataFrame(rows, columns=["benchmark", "model_a", "model_b", "shared_tasks", "mean_diff", "ci_lo",
                                       "ci_hi", "excludes_zero", "a_wins", "b_wins", "ties"])


def _pairs(bench: str, wide: pd.DataFrame, cfg: StatsConfig) -> list[dict]:
    rows = []
    for a, b in combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna()
        if both.empty:
            continue
        e = paired_bootstrap_diff(both[a], both[b], samples=cfg.bootstrap_samples, confidence=cfg.confidence,
                                  seed=cfg.seed)
        rows.append({"benchmark": bench, "model_a": a, "model_b": b, "shared_tasks": len(both), "mean_diff": e.value,
                     "ci_lo": e.lo, "ci_hi": e.hi, "excludes_zero": e.excludes_zero,
                     "a_wins": int((both[a] > both[b]).sum()), "b_wins": int((both[b] > both[a]).sum()),
                     "ties": int((both[a] == both[b]).sum())})
    return rows


def rubric_item_analytics(cp: pd.DataFrame) -> pd.DataFrame:
    judged = cp[cp["verdict"] != "judge_error"]
    g = judged.groupby(["task_id", "checkpoint_id"], sort=True)
    out = g.agg(domain=("domain", "first"), criterion=("criterion", "first"), weight=("weight", "first"),
                importance=("importance", "first"), models_judged=("model", "nunique"),
                models_met=("met", lambda s: int(s.astype(bool).sum()))).reset_index()
    out["met_share"] = out["models_met"] / out["models_judged"]
    out["flag"] = np.select([out["models_met"] == 0, out["models_met"] == out["models_judged"]],
                            ["no model meets", "every model meets"], default="")
    return out


def usage_rows(generations: pd.DataFrame, judge_rows: pd.DataFrame, judge_model: str, judge_cost,
               stored_usage: dict[str, dict]) -> pd.DataFrame:
    """Token and cost rows per call: candidates from the generation rows, judge calls from their
    stored usage (`stored_usage`: call key -> usage dict from the call store)."""
    cols = ["role", "model", "for_candidate", "call_key", "input_tokens", "output_tokens", "cached_tokens",
            "cache_write_tokens", "cost_usd",
            "mode", "batch_id"]  # mode: sync | batch (the provider's batch API), batch_id: that batch
    gen = generations.assign(role="candidate", for_candidate=generations["model"])
    # generations written before caching accounting or batch mode lack these columns
    for col, default in (("cache_write_tokens", 0), ("mode", "sync"), ("batch_id", None)):
        if col not in gen.columns:
            gen[col] = default
    gen = gen[cols] if len(gen) else pd.DataFrame(columns=cols)
    rows = []
    for key, cand in judge_rows[["judge_call_key", "model"]].dropna().drop_duplicates().itertuples(index=False):
        u = stored_usage.get(key)
        if u is None:
            continue
        tin, tout, tc, tw = (int(u.get(k, 0)) for k in
                             ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens"))
        rows.append({"role": "judge", "model": judge_model, "for_candidate": cand, "call_key": key,
                     "input_tokens": tin, "output_tokens": tout, "cached_tokens": tc, "cache_write_tokens": tw,
                     "cost_usd": judge_cost(tin, tout, tc, tw, batch=u.get("mode") == "batch"), "mode": u.get("mode", "sync"),
                     "batch_id": u.get("batch_id")})
    return pd.concat([gen, pd.DataFrame(rows, columns=cols)], ignore_index=True)


COST_COLUMNS = ["role", "model", "for_candidate", "calls", "input_tokens", "uncached_input_tokens", "cached_tokens",
                "cache_write_tokens", "output_tokens", "cost_usd"]


def cost_table(usage: pd.DataFrame) -> pd.DataFrame:
    """usage rows: role, model (that ran), for_candidate, call_key, input/output/cached/cache-write tokens, cost_usd.

    input_tokens is the whole prompt; it splits into uncached input, cache reads (cached_tokens) and
    cache writes, each priced at its own rate in cost_usd. A call is counted once even when several
    rows point at it (a judge call covers many checkpoints).
    """
    if usage.empty:
        return pd.DataFrame(columns=COST_COLUMNS)
    u = usage.drop_duplicates(["call_key", "for_candidate"])
    if "cache_write_tokens" not in u:
        u = u.assign(cache_write_tokens=0)
    out = u.groupby(["role", "model", "for_candidate"], sort=True).agg(
        calls=("call_key", "size"), input_tokens=("input_tokens", "sum"), output_tokens=("output_tokens", "sum"),
        cached_tokens=("cached_tokens", "sum"), cache_write_tokens=("cache_write_tokens", "sum"),
        cost_usd=("cost_usd", "sum")).reset_index()
    out["uncached_input_tokens"] = out["input_tokens"] - out["cached_tokens"] - out["cache_write_tokens"]
    return out[COST_COLUMNS]
