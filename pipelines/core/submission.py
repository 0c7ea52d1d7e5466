"""The expert submission format (one JSON file per submission).

This pydantic model is the source of truth; `validation/submission.schema.json` is generated from it
(`python -m pipelines.core.submission --write-schema`) and a test keeps the two in step.
Structural problems here send a file to quarantine; judgement calls (curation, rubric lint) come later.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from pipelines.core.taxonomy import load_taxonomy
from pipelines.paths import VALIDATION_DIR

SCHEMA_VERSION = "1.0"
Importance = Literal["Essential", "Important", "Optional"]
Polarity = Literal["requirement", "must_not"]
Verdict = Literal["met", "not_met"]
# Error types our validators raise (PydanticCustomError); intake uses them as quarantine reason codes.
SUBMISSION_ERROR_TYPES = frozenset(
    {"unknown_domain", "unknown_dimension", "duplicate_checkpoint_id", "anchor_mismatch", "invalid_weight"})
NonEmpty = Annotated[str, Field(min_length=1)]
Identifier = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


class _Strict(BaseModel):
    # Frozen: rubric data is immutable once parsed (PaperBench style). Unknown keys are errors so
    # that a typo ("wieght") is caught rather than silently defaulted.
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Expert(_Strict):
    id: Identifier
    domain: str
    credentials: list[NonEmpty] = Field(default_factory=list)
    years_experience: int | None = Field(default=None, ge=0, le=70)


class TaskSpec(_Strict):
    """The paper's three components. `prompt` is an alternative: a full prompt written as one text."""

    scenario: str | None = None
    background: str | None = None
    deliverables: str | None = None
    prompt: str | None = None


class Attachment(_Strict):
    name: NonEmpty
    media_type: str = "text/plain"
    content: str | None = None  # text attachments only; binary attachments are described, not embedded
    description: str | None = None


class Checkpoint(_Strict):
    id: Identifier
    criterion: str
    weight: float = Field(ge=1, le=10, allow_inf_nan=False)
    importance: Importance
    dimension: str
    tag: str | None = None
    polarity: Polarity = "requirement"

    @field_validator("weight", mode="before")
    @classmethod
    def _weight_is_number(cls, v: object) -> object:
        # bool is an int subclass; "true" as a weight is a typing error, not weight 1.
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise PydanticCustomError("invalid_weight", "weight must be a number")
        return v

    @field_validator("dimension")
    @classmethod
    def _known_dimension(cls, v: str) -> str:
        if v not in load_taxonomy().dimensions:
            raise PydanticCustomError("unknown_dimension", "unknown dimension {dimension}", {"dimension": repr(v)})
        return v


class Review(_Strict):
    peer_reviewers: list[NonEmpty] = Field(default_factory=list)
    senior_spot_check: bool = False
    notes: str | None = None


class AnchorVerdict(_Strict):
    checkpoint_id: Identifier
    verdict: Verdict
    rationale: NonEmpty


class Anchor(_Strict):
    model: NonEmpty
    response: NonEmpty
    verdicts: list[AnchorVerdict]
    verified_by: list[NonEmpty] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_verdicts(self) -> Anchor:
        ids = [v.checkpoint_id for v in self.verdicts]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise PydanticCustomError("anchor_mismatch", "duplicate anchor verdicts for checkpoint ids {ids}",
                                      {"ids": dupes})
        return self


class Source(_Strict):
    """Where the submission came from: `project` sample data or an external source with licence."""

    origin: Literal["expert", "project_sample", "paper_appendix", "test_fixture"] = "expert"
    citation: str | None = None
    license: str | None = None
    notes: str | None = None


class Submission(_Strict):
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    submission_id: Identifier
    submitted_at: datetime | None = None
    expert: Expert
    domain: str
    category: NonEmpty
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")]
    task: TaskSpec
    attachments: list[Attachment] = Field(default_factory=list)
    reference_answer: str | None = None
    rubric: list[Checkpoint] = Field(min_length=1)
    review: Review = Field(default_factory=Review)
    anchor: Anchor | None = None
    source: Source = Field(default_factory=Source)

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, v: str) -> str:
        if v not in load_taxonomy().domains:
            raise PydanticCustomError("unknown_domain", "unknown domain {domain}; expected one of {expected}",
                                      {"domain": repr(v), "expected": list(load_taxonomy().domains)})
        return v

    @model_validator(mode="after")
    def _rubric_ids_and_anchor(self) -> Submission:
        ids = [c.id for c in self.rubric]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise PydanticCustomError("duplicate_checkpoint_id", "duplicate checkpoint ids {ids}", {"ids": dupes})
        if self.anchor is not None:
            unknown = sorted({v.checkpoint_id for v in self.anchor.verdicts} - set(ids))
            if unknown:
                raise PydanticCustomError("anchor_mismatch", "anchor verdicts reference unknown checkpoint ids {ids}",
                                          {"ids": unknown})
        return self

    # -- derived views -------------------------------------------------------------------------

    def rubric_hash(self) -> str:
        """Content hash of the rubric (every field of every checkpoint, in order)."""
        blob = json.dumps([c.model_dump(mode="json") for c in self.rubric], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def prompt_text(self) -> str:
        """The task as the candidate sees it (attachments are rendered by the generation template)."""
        t = self.task
        if t.prompt:
            return t.prompt
        parts = [
            ("Work scenario", t.scenario),
            ("Background materials", t.background),
            ("Deliverable requirements", t.deliverables),
        ]
        return "\n\n".join(f"## {title}\n{body}" for title, body in parts if body)


def submissions_by_id(ids, payloads, only=None) -> dict[str, Submission]:
    """Rebuild Submission objects from a table's id and payload_json columns (optionally a subset)."""
    wanted = None if only is None else set(only)
    return {i: Submission.model_validate_json(p) for i, p in zip(ids, payloads) if wanted is None or i in wanted}


def write_json_schema(path=VALIDATION_DIR / "submission.schema.json") -> str:
    schema = Submission.model_json_schema()
    schema["$id"] = "https://xpertbench.local/submission.schema.json"
    schema["title"] = "XpertBench expert submission"
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


def _cli(argv: list[str]) -> int:
    """`python -m pipelines.core.submission FILE...` validates files and prints problems."""
    from pipelines.core.intake import parse_submission_bytes

    if argv[:1] == ["--write-schema"]:
        write_json_schema()
        return 0
    bad = 0
    for name in argv:
        with open(name, "rb") as fh:
            result = parse_submission_bytes(fh.read(), name)
        if result.submission is None:
            bad += 1
            print(f"QUARANTINE {name}: {result.reason}: {result.message}")
        else:
            s = result.submission
            anchor = "no anchor" if s.anchor is None else f"anchor {len(s.anchor.verdicts)} verdicts"
            print(f"ok {name}: {s.submission_id} {s.domain} / {s.category}: {len(s.rubric)} checkpoints, {anchor}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
