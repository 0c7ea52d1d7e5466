"""Read submission files: each file becomes a parsed Submission or a quarantine record with a reason.

Nothing here raises on bad input; a bad file never stops the others. The folder walk (names, links,
file types, sizes) is `pipelines.core.raw_folder`; this module turns bytes into a Submission or a
reason, and settles who owns a submission id when several files claim it (`mark_duplicate_ids`):

1. a file with a valid `submitted_at` always beats one without (a file cannot take over an id by
   leaving its timestamp out);
2. among timestamped files, the earliest `submitted_at` wins;
3. remaining ties (equal timestamps, or no timestamps at all) go to the smaller sha256 of the file's
   bytes, so the outcome does not depend on folder or file names; only byte-identical copies fall back
   to path order.

The losing file is quarantined as `duplicate_submission_id`, with a message naming both files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import accumulate
from pathlib import Path

from pydantic import ValidationError

from pipelines.core.raw_folder import folder_fingerprint, raw_entries
from pipelines.core.submission import SUBMISSION_ERROR_TYPES, Submission

__all__ = ["DEFAULT_MAX_BYTES", "REASON_PRECEDENCE", "ParseResult", "folder_fingerprint", "mark_duplicate_ids",
           "parse_folder", "parse_submission_bytes"]

DEFAULT_MAX_BYTES = 256 * 1024

# When a file has several problems, the most fundamental one names the quarantine reason.
REASON_PRECEDENCE = (
    "bad_file_name",
    "symlink_outside_raw",
    "broken_symlink",
    "not_a_regular_file",
    "unreadable",
    "file_too_large",
    "empty_file",
    "bad_encoding",
    "too_deeply_nested",
    "invalid_json",
    "number_out_of_range",
    "duplicate_key",
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
    "internal_error",  # a bug of ours, never a property of the file; the fuzz test asserts it never happens
)
MAX_JSON_DEPTH = 64  # a submission nests 4 levels; deeper files are pathological (and recursion is finite)
MAX_INT_DIGITS = 100  # no field takes a number anywhere near this; Python refuses ints above 4300 digits
MAX_MESSAGE_CHARS = 2000
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NO_TIME = datetime.min.replace(tzinfo=timezone.utc)
_BRACKET = re.compile(r"[\[\]{}]")


@dataclass(frozen=True)
class ParseResult:
    path: str
    sha256: str
    size_bytes: int
    submission: Submission | None
    reason: str | None = None
    message: str | None = None


def _reason_for(err: dict) -> str:
    """Reason code of one pydantic error: our validators raise typed errors; the rest map by kind."""
    loc = [str(p) for p in err.get("loc", ())]
    typ = err.get("type", "")
    msg = str(err.get("msg", ""))
    if typ in SUBMISSION_ERROR_TYPES:
        return typ
    if typ == "missing" or "needs weight and importance" in msg or "requires expert and category" in msg \
            or "needs a dimension" in msg:
        return "missing_field"
    if "weight" in loc[-2:]:
        return "invalid_weight"
    if typ == "extra_forbidden" or "need schema_version 1.1" in msg or "needs schema_version 1.1" in msg:
        return "unknown_field"
    if typ.endswith("_type"):
        return "wrong_type"
    return "invalid_value"


def _describe(err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "<root>"
    return f"{loc}: {err.get('msg')}"


def _clip(text: str) -> str:
    # Messages land in parquet and logs: bounded, and valid UTF-8 even if the input smuggled surrogates.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "..."


class _Unacceptable(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Unacceptable("number_out_of_range", f"an integer with {len(text.lstrip('-'))} digits "
                            f"(more than {MAX_INT_DIGITS})")
    return int(text)


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        dupes = sorted({k for k, _ in pairs if k in seen or seen.add(k)})
        raise _Unacceptable("duplicate_key", f"key(s) {dupes[:5]} appear more than once in one object; "
                            "JSON readers disagree on which value wins")
    return d


def _nesting(text: str) -> int:
    depth = accumulate(1 if b in "[{" else -1 for b in _BRACKET.findall(_STRING.sub("", text)))
    return max(depth, default=0)


def _load_json(text: str) -> object:
    if _nesting(text) > MAX_JSON_DEPTH:
        raise _Unacceptable("too_deeply_nested", f"JSON nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        raw = json.loads(text, parse_int=_parse_int, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as e:
        raise _Unacceptable("invalid_json", f"{e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:  # the bracket count is a cheap pre-check; this is the backstop
        raise _Unacceptable("too_deeply_nested", "JSON nests too deeply to read") from None
    try:  # JSON escapes can spell lone surrogates, which are not text and cannot be stored as UTF-8
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise _Unacceptable("bad_encoding", f"a string holds an unpaired surrogate escape "
                            f"(\\u{ord(e.object[e.start]):04x})") from None
    return raw


def parse_submission_bytes(data: bytes, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> ParseResult:
    """Bytes to a Submission or a reason; never raises (an unexpected error is `internal_error`)."""
    digest = hashlib.sha256(data).hexdigest()

    def bad(reason: str, message: str) -> ParseResult:
        return ParseResult(path, digest, len(data), None, reason, _clip(message))

    try:
        return _parse(data, path, max_bytes, digest, bad)
    except _Unacceptable as e:
        return bad(e.reason, str(e))
    except Exception as e:  # noqa: BLE001 - a bad file must never stop the run
        return bad("internal_error", f"{type(e).__name__}: {e}")


def _parse(data: bytes, path: str, max_bytes: int, digest: str, bad) -> ParseResult:
    if len(data) > max_bytes:
        return bad("file_too_large", f"{len(data)} bytes exceeds the limit of {max_bytes} bytes")
    if not data.strip():
        return bad("empty_file", "file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return bad("bad_encoding", f"not valid UTF-8: {e.reason} at byte {e.start}")
    raw = _load_json(text)
    if not isinstance(raw, dict):
        return bad("not_an_object", f"top level is a JSON {type(raw).__name__}, expected an object")
    try:
        sub = Submission.model_validate(raw)
    except ValidationError as e:
        errors = e.errors(include_url=False, include_input=False)
        reasons = {_reason_for(err) for err in errors}
        primary = min(reasons, key=REASON_PRECEDENCE.index)
        details = "; ".join(_describe(err) for err in errors[:8])
        more = f" (+{len(errors) - 8} more)" if len(errors) > 8 else ""
        return bad(primary, details + more)
    return ParseResult(path, digest, len(data), sub)


def parse_folder(root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[ParseResult]:
    """Every submission-like entry under root (see raw_folder), parsed or quarantined; never raises."""
    results = []
    for e in raw_entries(root, max_bytes):
        if e.data is None:
            results.append(ParseResult(e.path, e.sha256, e.size_bytes, None, e.reason, _clip(e.message or e.reason)))
        else:
            results.append(parse_submission_bytes(e.data, e.path, max_bytes))
    return mark_duplicate_ids(results)


def _utc(ts: datetime) -> datetime:
    return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _rank(r: ParseResult) -> tuple:
    ts = r.submission.submitted_at
    return (1, _NO_TIME, r.sha256, r.path) if ts is None else (0, _utc(ts), r.sha256, r.path)


def mark_duplicate_ids(results: Iterable[ParseResult]) -> list[ParseResult]:
    """Settle files that claim one submission id (rules in the module docstring); losers are quarantined."""
    results = list(results)
    owner: dict[str, ParseResult] = {}
    for r in sorted((r for r in results if r.submission is not None), key=_rank):
        owner.setdefault(r.submission.submission_id, r)
    out = []
    for r in results:
        won = owner.get(r.submission.submission_id) if r.submission is not None else None
        if won is not None and won is not r:
            out.append(ParseResult(r.path, r.sha256, r.size_bytes, None, "duplicate_submission_id",
                                   _clip(_duplicate_message(r, won))))
        else:
            out.append(r)
    return out


def _duplicate_message(lost: ParseResult, won: ParseResult) -> str:
    def when(r: ParseResult) -> str:
        ts = r.submission.submitted_at
        return f"submitted_at {ts.isoformat()}" if ts else "no submitted_at"

    (lost_untimed, lost_ts, *_), (won_untimed, won_ts, *_) = _rank(lost), _rank(won)
    why = ("it has a submitted_at and this file has none" if lost_untimed and not won_untimed
           else "it was submitted earlier" if won_ts < lost_ts
           else "it is byte-identical and sorts first by path" if won.sha256 == lost.sha256
           else "neither has a submitted_at and its sha256 is smaller" if won_untimed
           else "the timestamps are equal and its sha256 is smaller")
    return (f"submission_id {lost.submission.submission_id!r} is claimed by this file ({lost.path}, {when(lost)}) "
            f"and by {won.path} ({when(won)}); {won.path} keeps the id because {why}")
