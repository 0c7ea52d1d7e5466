"""Read submission files: each file becomes a parsed Submission or a quarantine record with a reason.

Nothing here raises on bad input; a bad file never stops the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from pipelines.core.submission import Submission

DEFAULT_MAX_BYTES = 256 * 1024

# When a file has several problems, the most fundamental one names the quarantine reason.
REASON_PRECEDENCE = (
    "file_too_large",
    "empty_file",
    "bad_encoding",
    "invalid_json",
    "not_an_object",
    "unknown_domain",
    "missing_field",
    "wrong_type",
    "invalid_weight",
    "duplicate_checkpoint_id",
    "unknown_dimension",
    "anchor_mismatch",
    "unknown_field",
    "invalid_value",
    "duplicate_submission_id",
)


@dataclass(frozen=True)
class ParseResult:
    path: str
    sha256: str
    size_bytes: int
    submission: Submission | None
    reason: str | None = None
    message: str | None = None


def _reason_for(err: dict) -> str:
    loc = [str(p) for p in err.get("loc", ())]
    typ = err.get("type", "")
    msg = str(err.get("msg", ""))
    if loc and loc[-1] == "weight" or (len(loc) >= 2 and loc[-2] == "weight"):
        if typ == "missing":
            return "missing_field"
        return "invalid_weight"
    if typ == "missing" or "needs weight and importance" in msg or "requires expert and category" in msg \
            or "needs a dimension" in msg:
        return "missing_field"
    if typ == "extra_forbidden" or "need schema_version 1.1" in msg or "needs schema_version 1.1" in msg:
        return "unknown_field"
    if "unknown domain" in msg:
        return "unknown_domain"
    if "unknown dimension" in msg:
        return "unknown_dimension"
    if "duplicate checkpoint ids" in msg:
        return "duplicate_checkpoint_id"
    if "anchor verdicts" in msg or "duplicate anchor" in msg:
        return "anchor_mismatch"
    if typ.endswith("_type") or typ in {"model_attributes_type", "list_type", "dict_type"}:
        return "wrong_type"
    return "invalid_value"


def _describe(err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "<root>"
    return f"{loc}: {err.get('msg')}"


def parse_submission_bytes(data: bytes, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> ParseResult:
    digest = hashlib.sha256(data).hexdigest()

    def bad(reason: str, message: str) -> ParseResult:
        return ParseResult(path, digest, len(data), None, reason, message)

    if len(data) > max_bytes:
        return bad("file_too_large", f"{len(data)} bytes exceeds the limit of {max_bytes} bytes")
    if not data.strip():
        return bad("empty_file", "file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return bad("bad_encoding", f"not valid UTF-8: {e.reason} at byte {e.start}")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        return bad("invalid_json", f"{e.msg} at line {e.lineno} column {e.colno}")
    if not isinstance(raw, dict):
        return bad("not_an_object", f"top level is a JSON {type(raw).__name__}, expected an object")
    try:
        sub = Submission.model_validate(raw)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        reasons = {_reason_for(err) for err in errors}
        primary = min(reasons, key=REASON_PRECEDENCE.index)
        details = "; ".join(_describe(err) for err in errors[:8])
        more = f" (+{len(errors) - 8} more)" if len(errors) > 8 else ""
        return bad(primary, details + more)
    return ParseResult(path, digest, len(data), sub)


def submission_files(root: Path) -> list[Path]:
    """Every *.json under root, in a stable order. Other files (README, CSV) are not submissions."""
    return sorted(p for p in root.rglob("*.json") if p.is_file())


def parse_folder(root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[ParseResult]:
    results = [
        parse_submission_bytes(p.read_bytes(), p.relative_to(root).as_posix(), max_bytes)
        for p in submission_files(root)
    ]
    return mark_duplicate_ids(results)


def mark_duplicate_ids(results: Iterable[ParseResult]) -> list[ParseResult]:
    """A later file claiming an existing submission id is quarantined.

    "Later" means a later submitted_at (files without one count as oldest), then path order, so
    the outcome does not depend on how the folders happen to be named.
    """
    results = list(results)
    floor = datetime.min.replace(tzinfo=timezone.utc)

    def when(r: ParseResult) -> tuple:
        ts = r.submission.submitted_at if r.submission and r.submission.submitted_at else floor
        return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc), r.path)

    owner: dict[str, ParseResult] = {}
    for r in sorted((r for r in results if r.submission is not None), key=when):
        owner.setdefault(r.submission.submission_id, r)
    out = []
    for r in results:
        if r.submission is not None and owner[r.submission.submission_id] is not r:
            first = owner[r.submission.submission_id].path
            r = ParseResult(r.path, r.sha256, r.size_bytes, None, "duplicate_submission_id",
                            f"submission_id {r.submission.submission_id!r} already used by {first}, "
                            "which was submitted earlier")
        out.append(r)
    return out


def folder_fingerprint(root: Path) -> str:
    """Content hash of every file under root (names and bytes): the raw_submissions data version."""
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()
