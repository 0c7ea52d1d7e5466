"""Measure the rubric lint on hand-labelled imported tasks beside the committed corpus.

    .venv/bin/python -m tests.core.lint_measure

imports tests/fixtures/healthbench/healthbench_sample.jsonl (HealthBench format, hand-labelled in
labels.json) into a temporary folder, lints it together with every valid file under raw_submissions/
(the real run lints them together), and prints: the false-positive rate of error-level findings on the
well-formed imported tasks, the seeded defects of the flawed corpus that error-level findings catch,
and what happens to the seeded HealthBench-style mismatches.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.settings import Settings
from pipelines.core.intake import parse_folder
from pipelines.core.rubric_lint import Finding, lint_all
from pipelines.importers.healthbench import import_healthbench
from pipelines.paths import DEFAULT_PIPELINE_CONFIG, DEFAULT_RAW_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "healthbench"
# Seeded defects of raw_submissions/ that an error-level lint finding must catch.
SEEDED = {"xb-flaw-rubric-mismatch": "task_rubric_mismatch", "xb-flaw-weights": "weight_order",
          "xb-paper-a3": "task_rubric_mismatch"}


@dataclass
class Measure:
    well_formed: int
    false_positives: list[str]  # well-formed imported tasks with an error-level finding
    seeded_caught: dict[str, bool]
    corpus_errors: set[str]  # submissions of raw_submissions/ with an error-level finding
    hb_mismatch_findings: dict[str, list[str]]  # seeded HealthBench-style mismatch -> its findings

    @property
    def fp_rate(self) -> float:
        return len(self.false_positives) / self.well_formed


def measure() -> Measure:
    labels = json.loads((FIXTURES / "labels.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        res = import_healthbench(FIXTURES / "healthbench_sample.jsonl", Path(tmp) / "healthbench", name="healthbench")
        assert res.ok, res.errors
        imported = [r.submission for r in parse_folder(Path(tmp)) if r.submission is not None]
    corpus = [r.submission for r in parse_folder(DEFAULT_RAW_DIR) if r.submission is not None]
    findings: list[Finding] = lint_all(imported + corpus, Settings.load(config=DEFAULT_PIPELINE_CONFIG).pipeline.rubric)
    label = {s.submission_id: labels[s.source.provenance.original_id] for s in imported}
    errors: dict[str, set[str]] = {}
    for f in findings:
        if f.severity == "error":
            errors.setdefault(f.submission_id, set()).add(f.check)
    well = [sid for sid, lab in label.items() if lab == "well_formed"]
    return Measure(
        well_formed=len(well),
        false_positives=sorted(sid for sid in well if sid in errors),
        seeded_caught={sid: check in errors.get(sid, set()) for sid, check in SEEDED.items()},
        corpus_errors={s.submission_id for s in corpus} & set(errors),
        hb_mismatch_findings={sid: sorted(f"{f.check}:{f.severity}" for f in findings if f.submission_id == sid)
                              for sid, lab in label.items() if lab != "well_formed"},
    )


def main() -> None:
    m = measure()
    print(f"well-formed imported tasks: {m.well_formed}")
    print(f"false positives (error-level findings): {len(m.false_positives)} = {m.fp_rate:.1%} "
          f"{m.false_positives or ''}")
    caught = sum(m.seeded_caught.values())
    print(f"seeded defects of the flawed corpus caught by error-level findings: {caught}/{len(m.seeded_caught)} "
          f"{m.seeded_caught}")
    print(f"corpus submissions with error-level findings: {sorted(m.corpus_errors)}")
    for sid, fs in m.hb_mismatch_findings.items():
        print(f"seeded HealthBench-style mismatch {sid}: {fs}")


if __name__ == "__main__":
    main()
