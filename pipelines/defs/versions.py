"""Code versions that include the configuration and prompt templates each stage depends on.

Dagster marks an asset stale when its code version changes. Folding the stage's section of
xpertbench.yaml and its prompt-template hash into the version means: editing the judge template
re-judges (judgements stale) but does not regenerate; changing a Gold setting re-samples Gold; and
adding a candidate to models.yaml changes nothing for the existing partitions. Computed from the
same Settings object that the resources read, so the two can never disagree.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.core import charts as charts_module
from pipelines.core import columns as columns_module
from pipelines.core import report as report_module
from pipelines.core.frames import sha256_text, stable_json
from pipelines.core.judge_prompt import judge_template_hash
from pipelines.core.prompts import template_hash
from pipelines.settings import Settings


def _v(base: str, *parts: str) -> str:
    return f"{base}-{sha256_text(':'.join(parts))[:12]}" if parts else base


def code_versions(s: Settings) -> dict[str, str]:
    cfg, models = s.pipeline, s.models
    judge = models.model(models.judge)
    judge_parts = (
        judge_template_hash(cfg.judge.template_version, cfg.judge.mode), cfg.judge.fingerprint(), models.judge,
        sha256_text(stable_json(judge.model_dump(mode="json"))),
        stable_json(models.providers[judge.provider].model_dump(mode="json", include={"kind", "base_url"})),
    )
    # The report's layout lives in its modules (layout, charts, units): any edit there is a new report version.
    report_src = sha256_text("".join(Path(m.__file__).read_text(encoding="utf-8")
                                     for m in (report_module, charts_module, columns_module)))
    return {
        "intake": _v("intake-v2", cfg.intake.fingerprint()),
        "curation": _v("curation-v2", cfg.curation.fingerprint()),
        "rubrics": _v("rubrics-v2", cfg.rubric.fingerprint()),
        "gold": _v("gold-v2", cfg.gold.fingerprint()),
        "generations": _v("generations-v2", template_hash(cfg.generation.template_version),
                          template_hash(cfg.generation.template_version, conversation=True),
                          cfg.generation.fingerprint()),
        "judgements": _v("judgements-v3", *judge_parts),
        "task_scores": _v("task-scores-v1", cfg.judge.fingerprint()),
        "agreement": _v("agreement-v4", *judge_parts, cfg.agreement.fingerprint()),
        "aggregates": _v("aggregates-v3", cfg.stats.fingerprint(), cfg.checks.fingerprint()),
        "report": _v("report-v3", report_src, cfg.stats.fingerprint()),
    }
