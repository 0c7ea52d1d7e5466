"""Time the whole pipeline at the paper's scale on stand-in models.

Generates N synthetic submissions (default 1,346, the paper's task count) spread over the 7 domains,
each with its own vocabulary so that none are near-duplicates, samples a Gold subset of the paper's
size (245), and materialises everything with Dagster into a temporary folder, timing each stage.

    .venv/bin/python bench/pipeline_scale.py [--tasks 1346] [--gold 245]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg
import yaml
from rich.console import Console
from rich.table import Table

warnings.filterwarnings("ignore")

DOMAINS = {"Finance": "Equity Research & Corporate Analysis", "Law": "Legal Research & Case Retrieval",
           "Education": "Subject Teaching & Tutoring",
           "Engineering & Applied Sciences": "Technical Analysis & Diagnostic Assessment",
           "Humanities & Social Sciences": "Social Research & Professional Consulting",
           "Computer Science": "Software Development & Data Practice",
           "Healthcare": "Clinical Diagnosis & Case Analysis"}
SHARES = [244, 215, 329, 275, 116, 92, 75]  # the paper's Table 1


def word(i: int, k: int) -> str:
    """A distinct pseudo-word per (task, slot), so tasks share no shingles."""
    letters = "bcdfghjklmnpqrstvwz"
    n, out = i * 97 + k * 7919, []
    for _ in range(3):
        n, r = divmod(n, len(letters))
        out.append(letters[r] + "aeiou"[(n + r) % 5])
    return "".join(out) + "ix"


def submission(i: int, domain: str) -> dict:
    crit = [f"Reports the {word(i, k)} {word(i, k + 40)} as {100 + 7 * k}" for k in range(20)]
    rubric = [{"id": f"c{k + 1:02d}", "criterion": c, "weight": 10 if k < 8 else (6 if k < 17 else 2),
               "importance": "Essential" if k < 8 else ("Important" if k < 17 else "Optional"),
               "dimension": "Accuracy & Factual Correctness"} for k, c in enumerate(crit)]
    anchor = {"model": "synthetic-anchor", "response": ". ".join(crit[3:]) + ".",
              "verdicts": [{"checkpoint_id": r["id"], "verdict": "not_met" if k < 3 else "met", "rationale": "r"}
                           for k, r in enumerate(rubric)]}
    return {"schema_version": "1.0", "submission_id": f"s-{i:05d}", "submitted_at": "2026-01-01T00:00:00Z",
            "expert": {"id": f"e-{i // 3}", "domain": domain}, "domain": domain, "category": DOMAINS[domain],
            "language": "en",
            "task": {"scenario": f"Scenario {' '.join(word(i, k) for k in range(80, 110))}.",
                     "background": f"Background {' '.join(word(i, k) for k in range(110, 150))}.",
                     "deliverables": "Report every figure listed in the background."},
            "reference_answer": ". ".join(crit) + ".", "rubric": rubric, "anchor": anchor}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1346)
    ap.add_argument("--gold", type=int, default=245)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="xb-scale-"))
    raw = root / "raw"
    raw.mkdir()
    i = 0
    for (domain, _), share in zip(DOMAINS.items(), SHARES):
        for _ in range(round(args.tasks * share / 1346)):
            (raw / f"s-{i:05d}.json").write_text(json.dumps(submission(i, domain)))
            i += 1
    cfg = root / "xb.yaml"
    cfg.write_text(yaml.safe_dump({"gold": {"size": args.gold, "min_per_domain": 3},
                                   "agreement": {"bootstrap_samples": 1000}, "stats": {"bootstrap_samples": 1000}}))
    from pipelines.definitions import build_definitions
    from pipelines.settings import Settings
    from pipelines.cli.orchestrate import run_all
    from pipelines.paths import DEFAULT_MODELS_CONFIG as MODELS_CONFIG

    res = build_definitions(Settings.load(raw_dir=raw, assets_dir=root / "assets", config=cfg, models=MODELS_CONFIG, env={}))
    stamps: list[tuple[str, float]] = []
    home = root / "home"
    home.mkdir()
    start = time.perf_counter()
    with dg.DagsterInstance.local_temp(str(home)) as inst:
        ok = run_all(inst, res, echo=lambda s: stamps.append((s, time.perf_counter())))
    end = time.perf_counter()
    t = Table("stage", "seconds", title=f"Pipeline at scale: {i} submissions, Gold {args.gold}, 3 stand-in candidates")
    for (label, t0), (_, t1) in zip(stamps, stamps[1:] + [("end", end)]):
        t.add_row(label.split(":")[0].replace("[xpertbench] ", ""), f"{t1 - t0:.1f}")
    t.add_row("[bold]total[/bold]", f"{end - start:.1f}")
    Console().print(t)
    print("success" if ok else "FAILED", root)


if __name__ == "__main__":
    main()
