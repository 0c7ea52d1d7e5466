"""What every importer shares: record errors with a location, stable ids, and idempotent writes.

An importer turns one source file into submission documents (schema 1.1, each with its provenance).
Every document is checked by the same code as intake (`parse_submission_bytes`) before it is written,
so a written file is never quarantined later; a record that fails is reported with its location and
the others go on. Writing is idempotent: the bytes of a document depend only on the source record, a
file whose bytes are already on disk is not touched, and re-importing the same file changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.core.intake import DEFAULT_MAX_BYTES, parse_submission_bytes

_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_ID_BAD_CHARS = re.compile(r"[^A-Za-z0-9._:-]")
MAX_ID = 120


@dataclass(frozen=True)
class RecordError:
    """A problem with one source record: `where` is e.g. 'line 7' or "sheet 'Rubric', row 5, column 'weight'"."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class ImportResult:
    source: Path
    out_dir: Path
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    warnings: list[RecordError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (f"{self.source.name}: {len(self.written)} written, {len(self.unchanged)} unchanged, "
                f"{len(self.errors)} record(s) with errors -> {self.out_dir}")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_identifier(text: str) -> bool:
    return bool(_ID_OK.match(text)) and len(text) <= MAX_ID


def stable_id(prefix: str, raw: str) -> str:
    """`prefix-raw` as a valid submission id; a raw id that had to be changed gets a hash suffix, so two
    different source ids never collide and the same source id always gives the same id."""
    candidate = f"{prefix}-{raw}"
    if is_identifier(candidate):
        return candidate
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:10]
    cleaned = _ID_BAD_CHARS.sub("_", raw)[: MAX_ID - len(prefix) - 12]
    return f"{prefix}-{cleaned}-{digest}"


def document_bytes(doc: dict) -> bytes:
    """The one serialisation of a document: key order as built, two-space indent, UTF-8, final newline."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def check_document(data: bytes, name: str) -> str | None:
    """None when intake would accept these bytes, else 'reason: message' (the quarantine it would get)."""
    r = parse_submission_bytes(data, name, DEFAULT_MAX_BYTES)
    return None if r.submission is not None else f"{r.reason}: {r.message}"


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write atomically unless the file already holds exactly these bytes. Returns True when written."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def write_documents(result: ImportResult, docs: list[tuple[str, dict, str]], subdir: str = "") -> None:
    """docs: (where, document, file stem). Checks each document as intake would, then writes it."""
    folder = result.out_dir / subdir if subdir else result.out_dir
    for where, doc, stem in docs:
        data = document_bytes(doc)
        problem = check_document(data, f"{stem}.json")
        if problem:
            result.errors.append(RecordError(where, f"would be quarantined as {problem}"))
            continue
        path = folder / f"{stem}.json"
        (result.written if write_if_changed(path, data) else result.unchanged).append(path)
