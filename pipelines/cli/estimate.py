"""`xpertbench estimate`: calls, tokens and cost a run would still pay for; nothing is sent.

Generation requests are built exactly as the pipeline builds them, so store hits are exact. Judge
requests use the materialised answers where they exist (exact keys again) and, for answers not
generated yet, a placeholder of the model's expected output length (an estimate, marked as such).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from upath import UPath

from pipelines.core.anchors import agreement_jobs
from pipelines.core.judge_prompt import WorkedExample
from pipelines.core.judging import JudgeJob, chunks, judge_request
from pipelines.core.prompts import generation_requests
from pipelines.core.submission import submissions_by_id
from pipelines.llm.runner import LLMRunner
from pipelines.locations import read_parquet
from pipelines.llm.types import LLMRequest
from pipelines.settings import Settings


def plan(settings: Settings, models: list[str] | None = None) -> tuple[list[LLMRequest], int]:
    """First-attempt requests of a full run (candidates, their judging, the agreement study), and
    how many judge prompts use a placeholder answer because the answer is not generated yet."""
    cfg, mcfg, assets_dir = settings.pipeline, settings.models, UPath(settings.assets_base)
    tasks, gold = read_parquet(assets_dir / "tasks.parquet"), read_parquet(assets_dir / "gold_tasks.parquet")
    pool = submissions_by_id(tasks["task_id"], tasks["payload_json"])
    subs = {t: pool[t] for t in gold["task_id"]}
    jobs: list[JudgeJob] = []
    requests: list[LLMRequest] = []
    placeholders = 0
    for m in models or mcfg.candidates:
        requests += generation_requests(subs, m, cfg.generation.template_version, cfg.generation.replicates)
        gen_path = assets_dir / "generations" / f"{m}.parquet"
        answers: dict[tuple[str, int], str] = {}
        if gen_path.exists():
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
    requests += [judge_request(job, part, mcfg.judge, cfg.judge.template_version)
                 for job in jobs for part in chunks(list(job.task.rubric), cfg.judge.checkpoints_per_call)]
    return requests, placeholders


def print_estimate(settings: Settings, models: list[str] | None = None, console: Console | None = None) -> int:
    c = console or Console()
    if not (UPath(settings.assets_base) / "gold_tasks.parquet").exists():
        c.print("[red]no Gold subset yet: run the curation stage first (make run or xpertbench refresh)[/red]")
        return 1
    requests, placeholders = plan(settings, models)
    runner = LLMRunner(settings.models, settings.call_store_url, progress=False)
    est = runner.estimate(requests)
    t = Table("model", "calls needed", "store hits", "input tokens", "output tokens", "cost (USD)",
              title="Dry run: what a full run would send now (first attempts; judge re-asks not included)")
    for row in est.as_rows():
        t.add_row(row["model"], str(row["calls"]), str(row["store_hits"]), f"{row['input_tokens']:,}",
                  f"{row['output_tokens']:,}", f"{row['cost_usd']:.4f}")
    t.add_row("[bold]total[/bold]", str(est.calls_needed), str(est.store_hits), f"{est.input_tokens:,}",
              f"{est.output_tokens:,}", f"{est.cost_usd:.4f}")
    c.print(t)
    if placeholders:
        c.print(f"[dim]{placeholders} judge prompts use a placeholder answer (not generated yet).[/dim]")
    return 0
