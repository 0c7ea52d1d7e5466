"""`xpertbench estimate`: calls, tokens and cost a run would still pay for; nothing is sent.

Generation requests are built exactly as the pipeline builds them, so store hits are exact. Judge
requests use the materialised answers where they exist (exact keys again) and, for answers not
generated yet, a placeholder of the model's expected output length (an estimate, marked as such).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from pipelines.config import load_config
from pipelines.core.judge_prompt import WorkedExample
from pipelines.core.judging import JudgeJob, chunks
from pipelines.core.judge_prompt import judge_messages, judge_template_hash
from pipelines.defs.common import submissions_by_id
from pipelines.defs.generation import generation_requests
from pipelines.llm.config import load_models_config
from pipelines.llm.runner import LLMRunner
from pipelines.llm.types import LLMRequest
from pipelines.paths import ASSETS_DIR, MODELS_CONFIG, PIPELINE_CONFIG


def judge_requests(jobs: list[JudgeJob], judge_model: str, version: str, per_call: int | None) -> list[LLMRequest]:
    out = []
    for job in jobs:
        for part in chunks(list(job.task.rubric), per_call):
            system, messages = judge_messages(job.task, job.answer, part, job.example)
            out.append(LLMRequest(model=judge_model, messages=messages, system=system,
                                  template_hash=judge_template_hash(version, "shotjudge" if job.example else "zeroshot"),
                                  response_format="json", tags={**job.tags, "role": "judge"}))
    return out


def plan(models: list[str] | None = None, assets_dir: Path = ASSETS_DIR) -> tuple[list[LLMRequest], int]:
    """All first-attempt requests for the candidates; also returns how many answers were placeholders."""
    cfg, mcfg = load_config(PIPELINE_CONFIG), load_models_config(MODELS_CONFIG)
    tasks, gold = pd.read_parquet(assets_dir / "tasks.parquet"), pd.read_parquet(assets_dir / "gold_tasks.parquet")
    subs = submissions_by_id(tasks, gold["task_id"])
    requests: list[LLMRequest] = []
    placeholders = 0
    for m in models or mcfg.candidates:
        requests += generation_requests(subs, m, cfg.generation.template_version, cfg.generation.replicates)
        gen_path = assets_dir / "generations" / f"{m}.parquet"
        answers = {}
        if gen_path.exists():
            g = pd.read_parquet(gen_path)
            answers = dict(zip(g.loc[g["ok"], "task_id"], g.loc[g["ok"], "answer"]))
        expected = mcfg.model(m).expected_output_tokens or mcfg.model(m).max_tokens
        jobs = []
        for tid, s in sorted(subs.items()):
            if tid not in answers:
                placeholders += 1
            answer = answers.get(tid, "x " * (2 * expected))  # ~4 characters per token
            ex = WorkedExample(s, s.anchor) if (s.anchor and cfg.judge.mode == "shotjudge") else None
            jobs.append(JudgeJob((tid, m), s, answer, ex, "shotjudge" if ex else "zeroshot", {"task_id": tid}))
        requests += judge_requests(jobs, mcfg.judge, cfg.judge.template_version, cfg.judge.checkpoints_per_call)
    return requests, placeholders


def print_estimate(models: list[str] | None = None, console: Console | None = None) -> int:
    c = console or Console()
    if not (ASSETS_DIR / "gold_tasks.parquet").exists():
        c.print("[red]no Gold subset yet: run the curation stage first (make run or xpertbench refresh)[/red]")
        return 1
    requests, placeholders = plan(models)
    runner = LLMRunner(load_models_config(MODELS_CONFIG), ASSETS_DIR / "llm_calls.sqlite", progress=False)
    est = runner.estimate(requests)
    t = Table("model", "calls needed", "store hits", "input tokens", "output tokens", "cost (USD)",
              title="Dry run: what a run would send now (first attempts; judge re-asks not included)")
    for row in est.as_rows():
        t.add_row(row["model"], str(row["calls"]), str(row["store_hits"]), f"{row['input_tokens']:,}",
                  f"{row['output_tokens']:,}", f"{row['cost_usd']:.4f}")
    t.add_row("[bold]total[/bold]", str(est.calls_needed), str(est.store_hits), f"{est.input_tokens:,}",
              f"{est.output_tokens:,}", f"{est.cost_usd:.4f}")
    c.print(t)
    if placeholders:
        c.print(f"[dim]{placeholders} judge prompts use a placeholder answer (not generated yet).[/dim]")
    return 0
