"""The expert submission format (one JSON file per submission).

This pydantic model is the source of truth; `validation/submission.schema.json` is generated from it
(`python -m pipelines.core.submission --write-schema`) and a test keeps the two in step.
Structural problems here send a file to quarantine; judgement calls (curation, rubric lint) come later.

Schema 1.1 (backward compatible: every 1.0 file parses to the same model and scores the same):
- `task.messages`: the prompt as a conversation (system / user / assistant turns);
- `points` on a criterion (signed; penalties negative, HealthBench rule) instead of weight + importance;
  one rubric uses one kind;
- `tags` lists on the task and on criteria (1.0's single `tag` stays);
- `source.dimensions`: a source's own dimension taxonomy (default: the paper's 16);
- expert, category and reference answer optional (curation rules say which sources require them);
- `grader_verdicts` per checkpoint, each with a grader id (meta-evaluation), on `completions`;
- `source.use: meta_eval` marks a set of graded completions for judge meta-evaluation (not a benchmark
  task): its criteria may be unscored (no weight, no points);
- `source.provenance`: where an importer took the submission from (file, sha256, line or sheet row).
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
Role = Literal["system", "user", "assistant", "developer"]
RubricKind = Literal["weighted", "points", "unscored"]
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


class Message(_Strict):
    role: Role
    content: str


class TaskSpec(_Strict):
    """The paper's three components. `prompt` is an alternative: a full prompt written as one text;
    `messages` (1.1) another: a conversation whose last turn the candidate answers."""

    scenario: str | None = None
    background: str | None = None
    deliverables: str | None = None
    prompt: str | None = None
    messages: list[Message] | None = None

    @model_validator(mode="after")
    def _messages_alone(self) -> TaskSpec:
        if self.messages is not None:
            if any((self.scenario, self.background, self.deliverables, self.prompt)):
                raise ValueError("task.messages replaces scenario/background/deliverables/prompt; give one form")
            if not self.messages or self.messages[-1].role != "user":
                raise ValueError("task.messages must end with a user turn")
        return self


class Attachment(_Strict):
    name: NonEmpty
    media_type: str = "text/plain"
    content: str | None = None  # text attachments only; binary attachments are described, not embedded
    description: str | None = None


class Completion(_Strict):
    """An answer to the task that graders labelled (meta-evaluation) or that the source ships (1.1)."""

    id: NonEmpty
    response: str
    origin: str | None = None  # e.g. "meta_eval", "reference_completion"


class GraderVerdict(_Strict):
    """One grader's verdict on a checkpoint for a given completion (meta-evaluation, 1.1)."""

    grader_id: NonEmpty
    completion_id: NonEmpty
    verdict: Verdict


class Checkpoint(_Strict):
    id: Identifier
    criterion: str
    # Weighted kind (1.0): weight 1-10 and importance. Points kind (1.1): signed points, no importance.
    weight: float | None = Field(default=None, ge=1, le=10, allow_inf_nan=False)
    importance: Importance | None = None
    points: float | None = Field(default=None, allow_inf_nan=False)
    dimension: str | None = None
    tag: str | None = None
    tags: list[NonEmpty] = Field(default_factory=list)
    polarity: Polarity = "requirement"
    grader_verdicts: list[GraderVerdict] = Field(default_factory=list)

    @field_validator("weight", "points", mode="before")
    @classmethod
    def _weight_is_number(cls, v: object) -> object:
        # bool is an int subclass; "true" as a weight is a typing error, not weight 1.
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise PydanticCustomError("invalid_weight", "weight and points must be numbers")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> Checkpoint:
        if self.points is not None:
            if self.weight is not None or self.importance is not None:
                raise ValueError("a points criterion carries no weight or importance")
            if self.points == 0:
                raise ValueError("points must be non-zero (negative for a penalty)")
            if self.polarity == "must_not":
                raise ValueError("points rubrics express penalties as negative points, not must_not")
        elif self.weight is not None or self.importance is not None:
            if self.weight is None or self.importance is None:
                raise ValueError("a criterion needs weight and importance (weighted) or points (points rubric)")
            if self.dimension is None:
                raise ValueError("a weighted criterion needs a dimension")
        # Neither: an unscored criterion, allowed only in meta-evaluation sets (Submission checks).
        return self

    @property
    def kind(self) -> RubricKind:
        if self.points is not None:
            return "points"
        return "weighted" if self.weight is not None else "unscored"


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


class Provenance(_Strict):
    """Where an importer read this submission (1.1): enough to find the exact source record again."""

    importer: Literal["healthbench", "healthbench_meta_eval", "sheet"]
    file: NonEmpty  # source file name (not the full path: the same file imported from anywhere is one record)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    lines: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)  # JSONL line numbers (1-based)
    sheet: str | None = None
    rows: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)  # spreadsheet rows (1-based)
    original_id: str | None = None  # the source's own id (HealthBench prompt_id)
    # Source fields with no place in the schema, kept verbatim so the record can be rebuilt
    # (HealthBench: canary, ideal_completions_group).
    kept: dict[str, str | None] = Field(default_factory=dict)


class Source(_Strict):
    """Where the submission came from: `project` sample data or an external source with licence."""

    origin: Literal["expert", "project_sample", "paper_appendix", "test_fixture", "public_benchmark"] = "expert"
    benchmark: Identifier = "xpertbench"  # scores are reported per benchmark, never averaged across
    dimensions: list[NonEmpty] | None = None  # the source's own taxonomy; default the paper's 16
    citation: str | None = None
    license: str | None = None
    notes: str | None = None
    use: Literal["benchmark", "meta_eval"] = "benchmark"  # meta_eval: graded completions, not a task
    provenance: Provenance | None = None


class Submission(_Strict):
    schema_version: Literal["1.0", "1.1"] = SCHEMA_VERSION
    submission_id: Identifier
    submitted_at: datetime | None = None
    expert: Expert | None = None
    domain: str
    category: NonEmpty | None = None
    tags: list[NonEmpty] = Field(default_factory=list)
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")]
    task: TaskSpec
    attachments: list[Attachment] = Field(default_factory=list)
    reference_answer: str | None = None
    rubric: list[Checkpoint] = Field(min_length=1)
    review: Review = Field(default_factory=Review)
    anchor: Anchor | None = None
    completions: list[Completion] = Field(default_factory=list)
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
        if self.schema_version == "1.0":
            _require_1_0(self)
        kinds = {c.kind for c in self.rubric}
        if len(kinds) > 1:
            raise ValueError("one rubric uses one kind: weight+importance or points, not both")
        if self.rubric_kind == "unscored" and self.source.use != "meta_eval":
            raise ValueError("a criterion needs weight and importance (weighted) or points (points rubric); "
                             "unscored criteria only in meta-evaluation sets (source.use: meta_eval)")
        _check_completions(self)
        if self.rubric_kind == "points" and not any(c.points > 0 for c in self.rubric):
            raise ValueError("a points rubric needs at least one positive criterion")
        allowed = set(self.source.dimensions or load_taxonomy().dimensions)
        unknown_dims = sorted({c.dimension for c in self.rubric if c.dimension is not None} - allowed)
        if unknown_dims:
            raise PydanticCustomError("unknown_dimension", "unknown dimension(s) {dims}", {"dims": str(unknown_dims)})
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

    @property
    def rubric_kind(self) -> RubricKind:
        return self.rubric[0].kind

    @property
    def benchmark(self) -> str:
        return self.source.benchmark

    @property
    def expert_id(self) -> str | None:
        return None if self.expert is None else self.expert.id

    def rubric_hash(self) -> str:
        """Content hash of the rubric (every field of every checkpoint, in order)."""
        blob = json.dumps([c.model_dump(mode="json") for c in self.rubric], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def prompt_text(self) -> str:
        """The task as the candidate sees it (attachments are rendered by the generation template)."""
        t = self.task
        if t.messages is not None:
            return render_transcript(t.messages)
        if t.prompt:
            return t.prompt
        parts = [
            ("Work scenario", t.scenario),
            ("Background materials", t.background),
            ("Deliverable requirements", t.deliverables),
        ]
        return "\n\n".join(f"## {title}\n{body}" for title, body in parts if body)


def render_transcript(messages: list[Message]) -> str:
    """A conversation as one text (for the judge and for lints); a lone user turn is just its text."""
    if len(messages) == 1 and messages[0].role == "user":
        return messages[0].content
    return "\n\n".join(f"[{m.role}]\n{m.content}" for m in messages)


def _check_completions(s: Submission) -> None:
    ids = [c.id for c in s.completions]
    if len(ids) != len(set(ids)):
        raise ValueError("completion ids must be unique")
    unknown = sorted({v.completion_id for c in s.rubric for v in c.grader_verdicts} - set(ids))
    if unknown:
        raise ValueError(f"grader verdicts name unknown completion ids {unknown}; list them in completions")
    for c in s.rubric:
        pairs = [(v.grader_id, v.completion_id) for v in c.grader_verdicts]
        if len(pairs) != len(set(pairs)):
            raise ValueError(f"checkpoint {c.id}: one verdict per grader and completion")
    if s.source.use == "meta_eval" and not any(c.grader_verdicts for c in s.rubric):
        raise ValueError("a meta-evaluation set needs grader verdicts")


def _require_1_0(s: Submission) -> None:
    """1.0 files keep 1.0's rules: expert and category present, weighted rubric, no 1.1 fields."""
    if s.expert is None or s.category is None:
        raise ValueError("schema_version 1.0 requires expert and category (use 1.1 for sources without them)")
    if (s.task.messages is not None or s.tags or s.source.dimensions is not None or s.completions
            or s.source.use != "benchmark" or s.source.provenance is not None):
        raise ValueError("task.messages, tags, completions and source.dimensions/use/provenance need "
                         "schema_version 1.1")
    for c in s.rubric:
        if c.kind != "weighted" or c.tags or c.grader_verdicts:
            raise ValueError(f"checkpoint {c.id}: points, tags and grader_verdicts need schema_version 1.1")


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
