"""Generations: every candidate model answers every Gold task (one partition per model)."""

import math

import dagster as dg
import pandas as pd

from pipelines.core.prompts import generation_requests, template_hash
from pipelines.defs.common import AUTO, Build, hashed_output, submissions_by_id
from pipelines.defs.columns import ui_table
from pipelines.defs.resources import LLMResource, XpertBenchResource
from pipelines.llm.progress import TRUNCATED
from pipelines.llm.tokens import estimate_prompt_tokens

GROUP = "generation"
COLUMNS = [
    "task_id", "model", "replicate", "ok", "answer", "model_reported", "finish_reason", "truncated", "max_tokens",
    "regenerated", "input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "latency_s", "cost_usd", "call_key",
    "from_store", "error_type", "error_message", "template_version", "prompt_template_hash", "source_sha256",
    "models_config", "mode", "batch_id",
]


def regenerate_truncated(runner, requests: list, results: list, model_cfg, factor: float, desc: str) -> set[int]:
    """Ask again, with a larger max_tokens, for the answers cut off at max_tokens; returns the indices
    whose result was replaced. A failed re-generation keeps the cut-off answer (flagged)."""
    idx = [i for i, r in enumerate(results) if r.ok and r.finish_reason == "length"]
    if not idx:
        return set()
    retry = []
    for i in idx:
        limit = math.ceil(model_cfg.max_tokens * factor)
        if model_cfg.context_window:  # never ask for more than the window leaves after the prompt
            limit = min(limit, model_cfg.context_window - estimate_prompt_tokens(requests[i]))
        retry.append(requests[i].model_copy(update={"max_tokens": max(limit, model_cfg.max_tokens)}))
    replaced = set()
    for i, req, res in zip(idx, retry, runner.run(retry, desc=desc, check=TRUNCATED)):
        if res.ok and req.max_tokens > model_cfg.max_tokens:
            requests[i], results[i] = req, res
            replaced.add(i)
    return replaced


def generations(context: dg.AssetExecutionContext, xpertbench: XpertBenchResource, llm: LLMResource,
                tasks: pd.DataFrame, gold_tasks: pd.DataFrame) -> dg.Output:
    model = context.partition_key
    cfg = xpertbench.config().generation
    models = xpertbench.models()
    model_cfg = models.model(model)
    subs = submissions_by_id(tasks, gold_tasks["task_id"])
    requests = generation_requests(subs, model, cfg.template_version, cfg.replicates)
    sha = dict(zip(tasks["task_id"], tasks["source_sha256"]))
    runner = llm.runner
    # Only tasks with a reference answer (public benchmarks may have none: the stand-ins then answer
    # generically instead of with an empty text).
    runner.register_oracle({r.last_user_text: subs[r.tags["task_id"]].reference_answer for r in requests
                            if (subs[r.tags["task_id"]].reference_answer or "").strip()})
    results = runner.run(requests, desc=f"generations[{model}]", check=TRUNCATED)
    regenerated: set[int] = set()
    if cfg.truncation == "regenerate":
        regenerated = regenerate_truncated(runner, requests, results, model_cfg, cfg.regenerate_factor,
                                           f"generations[{model}] regenerate truncated")
    rows = [
        {
            "task_id": req.tags["task_id"], "model": model, "replicate": req.replicate, "ok": res.ok,
            "answer": res.text if res.ok else None, "model_reported": res.model_reported,
            "finish_reason": res.finish_reason, "truncated": bool(res.ok and res.finish_reason == "length"),
            "max_tokens": req.max_tokens or model_cfg.max_tokens, "regenerated": i in regenerated,
            "input_tokens": res.input_tokens,
            "output_tokens": res.output_tokens, "cached_tokens": res.cached_tokens,
            "cache_write_tokens": res.cache_write_tokens,
            "latency_s": res.latency_s, "cost_usd": res.cost_usd, "call_key": res.call_key,
            "from_store": res.from_store, "error_type": res.error_type, "error_message": res.error_message,
            "mode": res.mode, "batch_id": res.batch_id,
            "template_version": cfg.template_version, "prompt_template_hash": req.template_hash,
            "source_sha256": sha[req.tags["task_id"]], "models_config": models.fingerprint(),
        }
        for i, (req, res) in enumerate(zip(requests, results))
    ]
    df = pd.DataFrame(rows, columns=COLUMNS)
    failed = df[~df["ok"]]
    for _, r in failed.iterrows():
        context.log.warning(f"generation failed for {r.task_id}: {r.error_type}: {r.error_message}")
    truncated = df[df["truncated"]]
    if len(truncated):
        policy = ("judged as they are (generation.truncation: judge; set it to regenerate, or raise max_tokens)"
                  if cfg.truncation == "judge" else
                  f"still cut off after regenerating with max_tokens x{cfg.regenerate_factor:g}; judged as they are")
        context.log.warning(f"{model}: {len(truncated)} of {len(df)} answers stopped at max_tokens "
                            f"(finish_reason=length), {policy}: {', '.join(truncated['task_id'][:10])}")
    # The data version covers what judging reads (answers and their keys), not latency or store hits,
    # so re-reading identical answers from the store leaves judgements fresh.
    version_cols = ["task_id", "replicate", "ok", "answer", "call_key"]
    out = hashed_output(df[version_cols], metadata={
        "calls": len(df), "sent": int((~df["from_store"] & df["ok"]).sum()),
        "from_store": int(df["from_store"].sum()), "failed": len(failed),
        "truncated": len(truncated), "regenerated": len(regenerated), "truncation_policy": cfg.truncation,
        "input_tokens": int(df["input_tokens"].sum()), "output_tokens": int(df["output_tokens"].sum()),
        "cost_usd": float(df["cost_usd"].sum()),
        "model_reported": ", ".join(sorted(set(df["model_reported"].dropna()))),
        "prompt_template_hash": template_hash(cfg.template_version)[:16],
        "sample": ui_table(df[["task_id", "ok", "finish_reason", "output_tokens", "from_store"]], 10),
    })
    return dg.Output(df, data_version=out.data_version, metadata=out.metadata)


def build(b: Build) -> list:
    """This stage's assets and checks, versioned and partitioned by the run's settings."""
    return [
        dg.asset(
            group_name=GROUP, automation_condition=AUTO, code_version=b.versions["generations"], kinds={"openai", "anthropic", "parquet"},
            partitions_def=b.partitions, pool="llm",
            ins={"tasks": dg.AssetIn(), "gold_tasks": dg.AssetIn()}, deps=["model_configs"],
            description="One row per (Gold task, candidate model): the answer, the model id the API returned, "
            "usage, latency, finish reason and call key. Calls go through the content-addressed call store, so a "
            "rerun pays only for calls not made before.",
        )(generations),
    ]
