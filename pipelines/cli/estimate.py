"""`xpertbench estimate`: calls, tokens and cost a run would still pay for, and the calls that cannot
fit a model's context window; nothing is sent.

Generation requests are built exactly as the pipeline builds them, so store hits are exact. Judge
requests use the materialised answers where they exist (exact keys again) and, for answers not
generated yet, a placeholder of the model's expected output length (an estimate, marked as such).
Before curation has been materialised (a fresh checkout), tasks and Gold are computed in memory
by the same functions the curation assets use.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table
from upath import UPath

from pipelines.core.anchors import agreement_jobs
from pipelines.core.curation_plan import curate_in_memory
from pipelines.core.judge_prompt import WorkedExample
from pipelines.core.judging import JudgeJob, chunks, judge_request
from pipelines.core.prompts import generation_requests
from pipelines.core.submission import Submission, submissions_by_id
from pipelines.llm.accounting import Estimate, ModelEstimate
from pipelines.llm.runner import LLMRunner
from pipelines.llm.tokens import summarize_misses, window_misses
from pipelines.locations import read_parquet
from pipelines.llm.types import LLMRequest
from pipelines.settings import Settings


def gold_inputs(settings: Settings, *, in_memory: bool = False) -> tuple[dict[str, Submission], dict[str, Submission], bool]:
    """(all kept tasks, Gold tasks, whether computed in memory): materialised when present, unless told."""
    assets_dir = UPath(settings.assets_base)
    if not in_memory and (assets_dir / "gold_tasks.parquet").exists() and (assets_dir / "tasks.parquet").exists():
        tasks, gold = read_parquet(assets_dir / "tasks.parquet"), read_parquet(assets_dir / "gold_tasks.parquet")
        pool = submissions_by_id(tasks["task_id"], tasks["payload_json"])
        return pool, {t: pool[t] for t in gold["task_id"]}, False
    pool, gold_ids = curate_in_memory(settings.raw_dir, settings.pipeline)
    return pool, {t: pool[t] for t in gold_ids}, True


def plan(settings: Settings, models: list[str] | None = None, *,
         in_memory: bool = False) -> tuple[list[LLMRequest], int, bool]:
    """First-attempt requests of a full run (candidates, their judging, the agreement study), how many
    judge prompts use a placeholder answer because the answer is not generated yet, and whether
    curation was computed in memory."""
    cfg, mcfg, assets_dir = settings.pipeline, settings.models, UPath(settings.assets_base)
    pool, subs, computed = gold_inputs(settings, in_memory=in_memory)
    jobs: list[JudgeJob] = []
    requests: list[LLMRequest] = []
    placeholders = 0
    for m in models or mcfg.candidates:
        requests += generation_requests(subs, m, cfg.generation.template_version, cfg.generation.replicates)
        gen_path = assets_dir / "generations" / f"{m}.parquet"
        answers: dict[tuple[str, int], str] = {}
        if gen_path.exists() and not computed:
            g = read_parquet(gen_path)
            g = g[g["ok"]]
            answers = {(t, int(r)): a for t, r, a in zip(g["task_id"], g["replicate"], g["answer"])}
        expected = mcfg.model(m).expected_output_tokens or mcfg.model(m).max_tokens
        for tid, s in sorted(subs.items()):
            for r in range(cfg.generation.replicates):
                if (tid, r) not in answers:
                    placeholders += 1
                answer = answers.get((tid, r), "x " * (2 * expected))  # ~4 characters per token
                ex = WorkedExample(s, s.anchor) if (s.anchor and cfg.judge.mode == "shotjudge") else None
                jobs.append(JudgeJob((tid, m, str(r)), s, answer, ex, "shotjudge" if ex else "zeroshot",
                                     {"task_id": tid}))
    jobs += agreement_jobs(subs.values(), pool.values())[0]
    requests += [judge_request(job, part, mcfg.judge, cfg.judge.template_version,
                               rationale_max_chars=cfg.judge.rationale_max_chars)
                 for job in jobs for part in chunks(list(job.task.rubric), cfg.judge.checkpoints_per_call)]
    return requests, placeholders, computed


def print_estimate(settings: Settings, models: list[str] | None = None, console: Console | None = None) -> int:
    # Piped output gets a table wide enough for its eleven columns (rich assumes 80 otherwise).
    c = console or (Console() if sys.stdout.isatty() else Console(width=160))
    requests, placeholders, computed = plan(settings, models)
    if computed:
        c.print("[dim]curation not materialised yet: tasks and Gold computed in memory from the raw folder.[/dim]")
    runner = LLMRunner(settings.models, settings.call_store_url, progress=False)
    try:
        est = runner.estimate(requests)
    finally:
        runner.close()
    t = Table("model", "calls", "in store", "input tok", "cache read", "cache write", "uncached", "output tok",
              "sync $", "cached $", "batch $",
              title="Dry run: what a full run would send now (first attempts; judge re-asks not included)")
    for name, e in sorted(est.per_model.items()):
        t.add_row(name, *_cells(e.calls, e.store_hits, e))
    t.add_row("[bold]total[/bold]", *_cells(est.calls_needed, est.store_hits, est))
    c.print(t)
    c.print("[dim]sync: every input token uncached; cached: the calls in run order through the providers' prompt "
            "caching (llm/prompt_cache.py), cache reads at input_cached_per_mtok and writes at cache_write_per_mtok; "
            "batch: the cached tokens at batch_discount.[/dim]")
    if placeholders:
        c.print(f"[dim]{placeholders} judge prompts use a placeholder answer (not generated yet).[/dim]")
    print_window_check(settings, requests, c)
    return 0


def _cells(calls: int, hits: int, e: Estimate | ModelEstimate) -> list[str]:
    uncached = e.input_tokens - e.cached_tokens - e.cache_write_tokens
    return [str(calls), str(hits), *(_n(x) for x in (e.input_tokens, e.cached_tokens, e.cache_write_tokens, uncached,
                                                       e.output_tokens)),
            f"{e.cost_usd:.4f}", f"{e.cost_cached_usd:.4f}", f"{e.cost_batch_usd:.4f}"]


def _n(x: int) -> str:
    """Token counts short enough for an 80-column terminal: 9,999 / 465.2k / 1.62M."""
    return f"{x:,}" if x < 10_000 else f"{x / 1e3:.1f}k" if x < 1_000_000 else f"{x / 1e6:.2f}M"


def print_window_check(settings: Settings, requests: list[LLMRequest], c: Console) -> None:
    windows = {n: m.context_window for n, m in settings.models.models.items() if m.context_window}
    if not windows:
        c.print("[dim]no context_window in the models config: prompt sizes not checked.[/dim]")
        return
    lines = summarize_misses(window_misses(settings.models, requests))
    checked = ", ".join(f"{n} {w:,}" for n, w in sorted(windows.items()))
    if not lines:
        c.print(f"context windows ({checked}): every call fits (prompt tokens approximated, see pipelines/llm/tokens.py)")
    for line in lines:
        c.print(f"[red]context window:[/red] {line}")
