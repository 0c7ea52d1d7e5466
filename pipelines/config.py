"""One typed configuration object for the whole pipeline (xpertbench.yaml).

Each stage reads only its own section, and each section's hash is recorded with the rows it
shaped, so a changed threshold is visible in provenance and invalidates only that stage.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator



class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def fingerprint(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class IntakeConfig(_Section):
    max_file_bytes: int = Field(default=256 * 1024, gt=0)


class CurationConfig(_Section):
    max_per_expert: int = Field(default=3, ge=1)
    allowed_languages: tuple[str, ...] = ("en", "zh")
    near_duplicate_threshold: float = Field(default=0.8, gt=0, le=1)
    shingle_size: int = Field(default=5, ge=1)
    minhash_permutations: int = Field(default=128, ge=16)
    min_reference_answer_chars: int = Field(default=200, ge=1)
    # Per benchmark source (schema 1.1): which optional fields a task must have, and the shortest prompt
    # kept. A source not listed requires none of them (public benchmarks have no expert or reference).
    required_fields: dict[str, tuple[Literal["expert", "category", "reference_answer"], ...]] = {
        "xpertbench": ("expert", "category", "reference_answer")}
    min_prompt_chars: dict[str, int] = {"xpertbench": 50}
    # Difficulty screen: drop a task when a screening model already scores above this. Active only
    # when the scores file exists in the raw folder; `xpertbench screening-scores` writes it from a
    # screening model's task scores in a separate run (raw_submissions/README.md).
    difficulty_threshold: float = Field(default=0.85, gt=0, le=1)
    screening_scores_file: str = "screening_scores.csv"


class RubricConfig(_Section):
    min_checkpoints: int = 15
    max_checkpoints: int = 40
    # Allowed weight range per importance level; overlaps allowed, the ordering check is separate.
    weight_bands: dict[str, tuple[float, float]] = {
        "Essential": (7, 10),
        "Important": (3, 8),
        "Optional": (1, 4),
    }
    # Task <-> rubric consistency: share of criteria sharing content words with the task text.
    consistency_min_share: float = Field(default=0.5, ge=0, le=1)
    # ...checked only when the task text has this many content words in the rubric's language: a short
    # prompt, a bare URL or a conversation in another language says too little to call a rubric foreign.
    consistency_min_task_tokens: int = Field(default=40, ge=0)
    atomicity_max_clauses: int = 2


class GoldConfig(_Section):
    size: int | None = Field(default=None, ge=1, description="absolute Gold size; overrides share")
    share: float = Field(default=0.5, gt=0, le=1)
    min_per_domain: int = Field(default=3, ge=0)
    seed: str = "xpertbench-gold-v1"


class GenerationConfig(_Section):
    template_version: str = "gen-v1"
    replicates: int = Field(default=1, ge=1)
    # An answer cut off at max_tokens (finish_reason=length) is always flagged (generations.truncated,
    # the leaderboard, the report, the terminal summary). "judge": judged as it is. "regenerate": asked
    # once more with max_tokens multiplied by regenerate_factor (capped by the model's context_window),
    # and the longer answer is judged; one still cut off stays flagged.
    truncation: Literal["judge", "regenerate"] = "judge"
    regenerate_factor: float = Field(default=2.0, gt=1)


class JudgeConfig(_Section):
    template_version: str = "judge-v1"
    mode: Literal["shotjudge", "zeroshot"] = "shotjudge"
    checkpoints_per_call: int | None = Field(default=None, ge=1, description="None = all in one call")
    max_attempts: int = Field(default=3, ge=1)
    max_error_share: float = Field(default=0.2, ge=0, le=1, description="task incomplete above this")
    # Caps each rationale in the reply schema (maxLength) for judges with structured_output: json_schema.
    # Grammar-constrained servers (llama.cpp, vLLM) enforce it, so a small model cannot ramble past
    # max_tokens; OpenAI's strict mode does not accept maxLength, and it is dropped for Anthropic.
    rationale_max_chars: int | None = Field(default=None, ge=20)


class AgreementConfig(_Section):
    bootstrap_samples: int = Field(default=2000, ge=100)
    seed: int = 20260402


class ChecksConfig(_Section):
    max_judge_error_rate: float = Field(default=0.05, ge=0, le=1)


class StatsConfig(_Section):
    bootstrap_samples: int = Field(default=2000, ge=100)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    seed: int = 20260402


class AutomationConfig(_Section):
    """What the Dagster daemon may do by itself (`make ui`); see README "Automation in the UI"."""

    # LLM stages (generations, judgements, anchor_judgements) under automation: "on", "off", or
    # "standins_only" (default): only when every provider in the models config is a stand-in.
    llm_stages: Literal["on", "off", "standins_only"] = "standins_only"
    # Whether the automation sensors run as soon as `dagster dev` starts ("stopped": start them in the UI).
    default_status: Literal["running", "stopped"] = "running"
    interval_s: int = Field(default=30, ge=5, description="seconds between sensor evaluations")

    @field_validator("llm_stages", mode="before")
    @classmethod
    def _yaml_booleans(cls, v: object) -> object:
        # YAML 1.1 reads a bare on/off as a boolean.
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v


class PipelineConfig(_Section):
    intake: IntakeConfig = IntakeConfig()
    curation: CurationConfig = CurationConfig()
    rubric: RubricConfig = RubricConfig()
    gold: GoldConfig = GoldConfig()
    generation: GenerationConfig = GenerationConfig()
    judge: JudgeConfig = JudgeConfig()
    agreement: AgreementConfig = AgreementConfig()
    checks: ChecksConfig = ChecksConfig()
    stats: StatsConfig = StatsConfig()
    automation: AutomationConfig = AutomationConfig()

    @model_validator(mode="after")
    def _bands_known(self) -> PipelineConfig:
        levels = {"Essential", "Important", "Optional"}
        unknown, missing = set(self.rubric.weight_bands) - levels, levels - set(self.rubric.weight_bands)
        if unknown or missing:
            raise ValueError(f"rubric.weight_bands needs exactly Essential, Important and Optional "
                             f"(unknown: {sorted(unknown)}, missing: {sorted(missing)})")
        return self
