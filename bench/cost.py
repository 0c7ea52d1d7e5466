"""Dollars for a full run at the paper's scale, under four judging protocols, from the prompts the
pipeline really builds.

1,346 synthetic submissions (bench/pipeline_scale.py's generator, the paper's domain shares), curated
in memory into a Gold subset of 245, ten candidates and the judge of models.paper.yaml at their list
prices. Judging the candidates' answers:
  (a) per-criterion, no caching: HealthBench's protocol, one grader call per criterion with
      simple-evals' GRADER_TEMPLATE (bench/healthbench_grader.py);
  (b) our default: one ShotJudge call per answer (task, worked example, rubric, answer);
  (c) (b) with provider prompt caching: the calls in judging order (candidate after candidate)
      through the stand-in's cache simulation (pipelines/llm/prompt_cache.py);
  (d) (c) in batch mode: the same tokens at the judge's batch_discount.
Prompt tokens are counted by the stand-in's tokeniser on the exact prompt text. Judge output per call
= the judge's thinking budget (from its reasoning_effort; --thinking-tokens overrides) + the reply,
measured on the stand-in judge's reply to that very prompt (a per-criterion reply: one verdict with its
rationale, in HealthBench's {"explanation", "criteria_met"} shape). Candidate answers are the task's
reference answer padded to --answer-tokens. Generation (the same in every protocol but (d), where it is
batched too) and the agreement study (anchors, our protocol only) are shown beside the judging figure.

    .venv/bin/python bench/cost.py [--tasks 1346] [--gold 245] [--candidates 10] [--models models.paper.yaml]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from healthbench_grader import grader_prompt  # noqa: E402
from pipeline_scale import DOMAINS, SHARES, submission  # noqa: E402

from pipelines.core.anchors import agreement_jobs  # noqa: E402
from pipelines.core.curation_plan import curate_in_memory  # noqa: E402
from pipelines.core.judge_prompt import WorkedExample  # noqa: E402
from pipelines.core.judging import JudgeJob, chunks, judge_request  # noqa: E402
from pipelines.core.prompts import generation_messages  # noqa: E402
from pipelines.core.submission import Submission  # noqa: E402
from pipelines.llm.config import ModelConfig  # noqa: E402
from pipelines.llm.prompt_cache import PromptCache, count_tokens, prompt_layout, request_body  # noqa: E402
from pipelines.llm.standin_wire import approx_tokens  # noqa: E402
from pipelines.llm.standins import judge_reply  # noqa: E402
from pipelines.llm.types import LLMRequest  # noqa: E402
from pipelines.settings import Settings  # noqa: E402

# Gemini's OpenAI-compatible endpoint maps reasoning_effort to these thinking budgets (tokens).
THINKING_BUDGET = {None: 0, "none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}


@dataclass
class Tally:
    calls: int = 0
    input_tokens: int = 0
    cached: int = 0
    written: int = 0
    output_tokens: int = 0

    def add(self, tin: int, tout: int, cached: int = 0, written: int = 0) -> None:
        self.calls += 1
        self.input_tokens += tin
        self.output_tokens += tout
        self.cached += cached
        self.written += written

    def usd(self, m: ModelConfig, batch: bool = False, thinking: int = 0) -> float:
        """Priced at ``m``'s rates, with ``thinking`` more output tokens per call."""
        return m.cost_usd(self.input_tokens, self.output_tokens + thinking * self.calls, self.cached, self.written,
                          batch=batch)


def make_corpus(raw: Path, n: int) -> None:
    i = 0
    for (domain, _), share in zip(DOMAINS.items(), SHARES, strict=True):
        for _ in range(round(n * share / 1346)):
            (raw / f"s-{i:05d}.json").write_text(json.dumps(submission(i, domain)))
            i += 1


def answer_for(model: str, s: Submission, tokens: int) -> str:
    """A candidate's answer: its name, then the task's reference answer repeated to about ``tokens``."""
    ref = s.reference_answer or s.prompt_text()
    text = f"Answer by {model}. " + ref
    while len(text) < tokens * 4:
        text += " " + ref
    return text[: tokens * 4]


def prompt_tokens(protocol: str, r: LLMRequest) -> tuple[dict, int]:
    body = request_body(protocol, r.system, r.messages, r.cache_prefix_chars)
    return body, count_tokens(prompt_layout(body)[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1346)
    ap.add_argument("--gold", type=int, default=245)
    ap.add_argument("--candidates", type=int, default=10)
    ap.add_argument("--models", default=str(ROOT / "models.paper.yaml"))
    ap.add_argument("--answer-tokens", type=int, default=1000,
                    help="candidate answer length (default ~ the sample corpus's median reference answer)")
    ap.add_argument("--thinking-tokens", type=int, default=None,
                    help="judge thinking tokens per call (default: the budget of its reasoning_effort)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="xb-cost-"))
    (tmp / "raw").mkdir()
    make_corpus(tmp / "raw", args.tasks)
    (tmp / "xb.yaml").write_text(yaml.safe_dump({"gold": {"size": args.gold, "min_per_domain": 3}}))
    settings = Settings.load(raw_dir=tmp / "raw", config=tmp / "xb.yaml", models=args.models, env={})
    cfg, mcfg = settings.pipeline, settings.models
    pool, gold_ids = curate_in_memory(tmp / "raw", cfg)
    gold = [pool[t] for t in sorted(gold_ids)]
    candidates = mcfg.candidates[: args.candidates]
    judge, jm = mcfg.judge, mcfg.model(mcfg.judge)
    protocol = mcfg.provider_of(judge).wire
    thinking = THINKING_BUDGET[jm.reasoning_effort] if args.thinking_tokens is None else args.thinking_tokens
    t_curated = time.perf_counter() - t0

    ours, cache, anchors = Tally(), PromptCache(), Tally()
    cached_ours, cached_anchors = Tally(), Tally()
    per_criterion = Tally()
    gen = {m: Tally() for m in candidates}
    prefix_tokens: list[int] = []

    def judge_calls(jobs: list[JudgeJob], plain: Tally, cached: Tally, rationales: dict | None = None) -> None:
        for job in jobs:
            for part in chunks(list(job.task.rubric), cfg.judge.checkpoints_per_call):
                r = judge_request(job, part, judge, cfg.judge.template_version,
                                  rationale_max_chars=cfg.judge.rationale_max_chars)
                body, tin = prompt_tokens(protocol, r)
                reply = judge_reply(r.last_user_text)
                tout = approx_tokens(reply)  # the judge's thinking is added when pricing
                u = cache.usage(protocol, judge, body, tout)
                plain.add(tin, tout)
                cached.add(tin, tout, u.cached_tokens, u.cache_write_tokens)
                if rationales is not None:
                    rationales.update({(job.key, v["id"]): v for v in json.loads(reply)["verdicts"]})
                if r.cache_prefix_chars:
                    prefix_tokens.append(count_tokens(r.last_user_text[: r.cache_prefix_chars]))

    # The agreement study runs beside the candidates' judging (our protocol only).
    judge_calls(agreement_jobs(gold, pool.values())[0], anchors, cached_anchors)
    for m in candidates:
        jobs = []
        for s in gold:
            system, messages = generation_messages(s)
            _, gin = prompt_tokens(mcfg.provider_of(m).wire, LLMRequest(model=m, messages=messages, system=system,
                                                                         template_hash="-"))
            gen[m].add(gin, mcfg.model(m).expected_output_tokens or mcfg.model(m).max_tokens)
            ex = WorkedExample(s, s.anchor) if (s.anchor and cfg.judge.mode == "shotjudge") else None
            jobs.append(JudgeJob((s.submission_id, m, "0"), s, answer_for(m, s, args.answer_tokens), ex,
                                 "shotjudge" if ex else "zeroshot", {"task_id": s.submission_id}))
        rationales: dict = {}
        judge_calls(jobs, ours, cached_ours, rationales)
        for job in jobs:  # (a): one grader call per criterion, the conversation and one rubric item
            user = generation_messages(job.task)[1][-1]["content"]
            for c in job.task.rubric:
                prompt = grader_prompt([{"role": "user", "content": user}], job.answer,
                                       c.points if c.kind == "points" else c.weight, c.criterion)
                v = rationales.get((job.key, c.id), {"rationale": "", "verdict": "not_met"})
                reply = json.dumps({"explanation": v["rationale"], "criteria_met": v["verdict"] == "met"})
                per_criterion.add(count_tokens(prompt_layout({"messages": [{"role": "user", "content": prompt}]})[0]),
                                  approx_tokens(reply))

    gen_sync = sum(t.usd(mcfg.model(m)) for m, t in gen.items())
    gen_batch = sum(t.usd(mcfg.model(m), batch=True) for m, t in gen.items())

    def table(think: int) -> list[tuple[str, Tally, float, float | None, float, int]]:
        return [("(a) per-criterion, no caching (HealthBench)", per_criterion, per_criterion.usd(jm, False, think),
                 None, gen_sync, think),
                ("(b) one call per answer (our default)", ours, ours.usd(jm, False, think),
                 anchors.usd(jm, False, think), gen_sync, think),
                ("(c) (b) + prompt caching", cached_ours, cached_ours.usd(jm, False, think),
                 cached_anchors.usd(jm, False, think), gen_sync, think),
                ("(d) (c) + batch", cached_ours, cached_ours.usd(jm, True, think), cached_anchors.usd(jm, True, think),
                 gen_batch, think)]

    rows = table(thinking)
    a_usd, d_usd = rows[0][2], rows[3][2]
    print(f"{len(pool)} tasks kept of {args.tasks}, Gold {len(gold)}, {len(candidates)} candidates, judge {judge} "
          f"({protocol} protocol, {thinking} thinking tokens per call), models {Path(args.models).name}")
    print(f"judge prompt prefix shared by a task's candidates: median {statistics.median(prefix_tokens):,.0f} tokens; "
          f"candidate answers {args.answer_tokens:,} tokens\n")
    print("| protocol | judge calls | input tokens | cache read | cache write | output tokens | judging USD | "
          "x of (a) | agreement study USD | generation USD | full run USD |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, t, usd, study, g, think in rows:
        print(f"| {name} | {t.calls:,} | {t.input_tokens:,} | {t.cached:,} | {t.written:,} | "
              f"{t.output_tokens + think * t.calls:,} | {usd:,.2f} | {usd / a_usd:.3f} | "
              f"{'-' if study is None else f'{study:,.2f}'} | {g:,.2f} | {usd + (study or 0) + g:,.2f} |")
    print(f"\njudging (d)/(a) = 1/{a_usd / d_usd:.1f}: target (d) <= (a)/20 "
          f"{'met' if d_usd <= a_usd / 20 else 'NOT met'}")
    sens = ", ".join(f"{k} -> 1/{table(k)[0][2] / table(k)[3][2]:.1f}" for k in sorted({0, 256, 1024, thinking}))
    print(f"judging (a)/(d) by thinking tokens per judge call: {sens}")
    print(f"measured in {time.perf_counter() - t0:.0f} s (curation {t_curated:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
