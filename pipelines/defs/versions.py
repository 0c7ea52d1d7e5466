"""Code versions that include the configuration and prompt templates each stage depends on.

Dagster marks an asset stale when its code version changes. Folding the stage's section of
xpertbench.yaml and its prompt-template hash into the version means: editing the judge template
re-judges (judgements stale) but does not regenerate; changing a Gold setting re-samples Gold; and
adding a candidate to models.yaml changes nothing for the existing partitions.
"""

from pipelines.config import load_config
from pipelines.core.judge_prompt import judge_template_hash
from pipelines.core.prompts import template_hash
from pipelines.core.frames import sha256_text, stable_json
from pipelines.llm.config import load_models_config
from pipelines.paths import MODELS_CONFIG, PIPELINE_CONFIG

_cfg = load_config(PIPELINE_CONFIG)
_models = load_models_config(MODELS_CONFIG)


def _v(base: str, *parts: str) -> str:
    return f"{base}-{sha256_text(':'.join(parts))[:12]}" if parts else base


def _judge_parts() -> tuple[str, ...]:
    judge = _models.model(_models.judge)
    return (judge_template_hash(_cfg.judge.template_version, _cfg.judge.mode), _cfg.judge.fingerprint(),
            _models.judge, sha256_text(stable_json(judge.model_dump(mode="json"))),
            stable_json(_models.providers[judge.provider].model_dump(mode="json", include={"kind", "base_url"})))


INTAKE = _v("intake-v1", _cfg.intake.fingerprint())
CURATION = _v("curation-v1", _cfg.curation.fingerprint())
RUBRICS = _v("rubrics-v1", _cfg.rubric.fingerprint())
GOLD = _v("gold-v1", _cfg.gold.fingerprint())
GENERATIONS = _v("generations-v1", template_hash(_cfg.generation.template_version), _cfg.generation.fingerprint())
JUDGEMENTS = _v("judgements-v1", *_judge_parts())
TASK_SCORES = _v("task-scores-v1", _cfg.judge.fingerprint())
AGREEMENT = _v("agreement-v1", *_judge_parts(), _cfg.agreement.fingerprint())
AGGREGATES = _v("aggregates-v1", _cfg.stats.fingerprint(), _cfg.checks.fingerprint())
REPORT = "report-v1"
