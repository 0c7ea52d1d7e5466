"""Spreadsheet-authored tasks (.xlsx or .csv) to schema 1.1 submissions: how most experts write rubrics.

Layout (see `raw_submissions/templates/`): a `Task` sheet of `field | value` rows (a third column may
hold help text and is ignored) and a `Rubric` sheet with a header row and one row per checkpoint. The
CSV variant holds the same two tables in one file, Task first, then a blank row, then Rubric.

Every problem is reported with its sheet, row and column, all of them at once; a task with any error
is not written (half a rubric is not a task). Values are checked by the same pydantic model as intake,
and its errors are mapped back to the cell they came from.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from pipelines.core.submission import Submission
from pipelines.importers.common import ImportResult, RecordError, file_sha256, write_documents

TASK_FIELDS = {
    "submission_id": "unique id of the task, e.g. xb-law-101 (letters, digits, . _ : -)",
    "benchmark": "benchmark source the task belongs to (default xpertbench)",
    "domain": "one of the 7 domains in validation/taxonomy.yaml",
    "category": "sub-category (taxonomy.yaml)",
    "language": "language code, e.g. en or zh",
    "submitted_at": "date and time of submission (ISO 8601, UTC if no zone)",
    "tags": "task tags, separated by ;",
    "expert_id": "the author's expert id",
    "expert_domain": "the author's domain (default: domain)",
    "expert_credentials": "credentials, separated by ;",
    "expert_years_experience": "whole years",
    "scenario": "who, where, why (or use prompt)",
    "background": "facts, figures and excerpts the task needs",
    "deliverables": "numbered output requirements",
    "prompt": "one full prompt instead of scenario/background/deliverables",
    "reference_answer": "the expert's own complete answer",
    "anchor_model": "model that wrote the anchor answer (worked example)",
    "anchor_response": "the anchor answer; grade it in the Rubric sheet's anchor columns",
    "anchor_verified_by": "who verified the anchor verdicts, separated by ;",
    "peer_reviewers": "peer reviewers, separated by ;",
    "senior_spot_check": "yes or no",
    "review_notes": "free text",
}
RUBRIC_COLUMNS = {
    "id": "checkpoint id, unique in the task (default c01, c02, ...)",
    "criterion": "one atomic, checkable requirement",
    "weight": "1-10 (weighted rubric)",
    "importance": "Essential, Important or Optional (weighted rubric)",
    "dimension": "one of the 16 dimensions (weighted rubric)",
    "tag": "free label",
    "polarity": "requirement (default) or must_not",
    "points": "signed points instead of weight/importance (penalties negative)",
    "tags": "labels separated by ;",
    "anchor_verdict": "met or not_met: the experts' verdict on the anchor answer",
    "anchor_rationale": "why",
}
LISTS = {"tags", "expert_credentials", "anchor_verified_by", "peer_reviewers"}
VERDICTS = {"met": "met", "not_met": "not_met", "not met": "not_met"}


@dataclass
class Cell:
    sheet: str
    row: int
    column: str
    letter: str = ""

    def where(self) -> str:
        col = f"column {self.letter} {self.column!r}" if self.letter else f"column {self.column!r}"
        return f"sheet {self.sheet!r}, row {self.row}, {col}"


@dataclass
class Table:
    sheet: str
    header_row: int
    header: list[str] = field(default_factory=list)  # lower-cased column names
    rows: list[tuple[int, list[object]]] = field(default_factory=list)  # (row number, values)


def _letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _text(v: object) -> str | None:
    """A cell as text: numbers typed into text columns lose a spurious '.0'; blanks are None."""
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    s = str(v).strip()
    return s or None


def _header(values: list[object]) -> list[str]:
    return [(_text(v) or "").lower() for v in values]


def _tables_from_csv(path: Path) -> list[Table]:
    blocks: list[Table] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        start, current = 1, None
        for rec in reader:
            row, start = start, reader.line_num + 1  # a quoted cell may span lines: rows are file lines
            if not any(c.strip() for c in rec):
                current = None
                continue
            if current is None:
                current = Table("Task" if not blocks else "Rubric", row, _header(rec))
                blocks.append(current)
            else:
                current.rows.append((row, list(rec)))
    return blocks


def _tables_from_xlsx(path: Path) -> list[Table | None]:
    from openpyxl import load_workbook  # imported here: only this command needs it

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        out: list[Table | None] = []
        for name in ("Task", "Rubric"):
            ws = next((wb[n] for n in wb.sheetnames if n.lower() == name.lower()), None)
            if ws is None:
                out.append(None)
                continue
            t = Table(ws.title, 1)
            for r, vals in enumerate(ws.iter_rows(values_only=True), start=1):
                if r == 1:
                    t.header = _header(list(vals))
                elif any(_text(v) for v in vals):
                    t.rows.append((r, list(vals)))
            out.append(t)
        return out
    finally:
        wb.close()


def read_tables(path: Path) -> tuple[Table | None, Table | None]:
    blocks: list[Table | None] = (_tables_from_csv(path) if path.suffix.lower() == ".csv"
                                  else _tables_from_xlsx(path))
    blocks = blocks + [None] * (2 - len(blocks))
    return blocks[0], blocks[1]


class _Sheet:
    """Reads typed values out of the two tables, remembering which cell each value came from."""

    def __init__(self) -> None:
        self.errors: list[RecordError] = []
        self.task_cells: dict[str, Cell] = {}
        self.rubric_rows: list[int] = []
        self.rubric_sheet = "Rubric"

    def error(self, cell: Cell, msg: str) -> None:
        self.errors.append(RecordError(cell.where(), msg))

    def task_values(self, t: Table) -> dict[str, object]:
        cols = {name: i for i, name in enumerate(t.header)}
        if "field" not in cols or "value" not in cols:
            self.errors.append(RecordError(f"sheet {t.sheet!r}, row {t.header_row}",
                                           "header must name the columns field and value"))
            return {}
        fi, vi = cols["field"], cols["value"]
        out: dict[str, object] = {}
        for row, vals in t.rows:
            name = (_text(vals[fi] if fi < len(vals) else None) or "").lower()
            cell = Cell(t.sheet, row, "value", _letter(vi))
            if name not in TASK_FIELDS:
                self.error(Cell(t.sheet, row, "field", _letter(fi)),
                           f"unknown field {name!r}; expected one of {', '.join(TASK_FIELDS)}")
                continue
            if name in out:
                self.error(Cell(t.sheet, row, "field", _letter(fi)),
                           f"field {name!r} given twice (first on row {self.task_cells[name].row})")
                continue
            self.task_cells[name] = cell
            raw = vals[vi] if vi < len(vals) else None
            if raw is not None and _text(raw) is not None:
                out[name] = raw
        return out

    def rubric_values(self, t: Table) -> list[dict[str, object]]:
        self.rubric_sheet = t.sheet
        unknown = [(i, c) for i, c in enumerate(t.header) if c and c not in RUBRIC_COLUMNS]
        for i, c in unknown:
            self.error(Cell(t.sheet, t.header_row, c, _letter(i)),
                       f"unknown column; expected {', '.join(RUBRIC_COLUMNS)}")
        if "criterion" not in t.header:
            self.errors.append(RecordError(f"sheet {t.sheet!r}, row {t.header_row}", "no criterion column"))
        self.rubric_cols = {c: i for i, c in enumerate(t.header) if c in RUBRIC_COLUMNS}
        out = []
        for row, vals in t.rows:
            rec = {c: vals[i] for c, i in self.rubric_cols.items() if i < len(vals) and _text(vals[i]) is not None}
            self.rubric_rows.append(row)
            out.append(rec)
        return out

    def rubric_cell(self, index: int, column: str) -> Cell:
        i = self.rubric_cols.get(column)
        row = self.rubric_rows[index] if index < len(self.rubric_rows) else 0
        return Cell(self.rubric_sheet, row, column, "" if i is None else _letter(i))


def _number(sheet: _Sheet, cell: Cell, v: object) -> float | int | None:
    if isinstance(v, bool):
        sheet.error(cell, f"{v!r} is not a number")
        return None
    if isinstance(v, (int, float)):
        return v
    text = _text(v) or ""
    try:
        f = float(text.replace(",", "."))
    except ValueError:
        sheet.error(cell, f"{text!r} is not a number")
        return None
    return int(f) if f.is_integer() and "." not in text and "," not in text else f


def _list(v: object) -> list[str]:
    return [p.strip() for p in (_text(v) or "").split(";") if p.strip()]


def _when(sheet: _Sheet, cell: Cell, v: object) -> str | None:
    if isinstance(v, datetime):  # Excel dates carry no zone: read as UTC, like intake does
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).isoformat()
    text = _text(v)
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        sheet.error(cell, f"{text!r} is not a date and time (ISO 8601, e.g. 2026-03-14T09:30:00Z)")
        return None
    return text


def _yes_no(sheet: _Sheet, cell: Cell, v: object) -> bool | None:
    if isinstance(v, bool):
        return v
    text = (_text(v) or "").lower()
    if text in ("yes", "y", "true", "1"):
        return True
    if text in ("no", "n", "false", "0"):
        return False
    sheet.error(cell, f"{text!r}: write yes or no")
    return None


def _checkpoint(sheet: _Sheet, i: int, rec: dict[str, object]) -> tuple[dict, dict | None]:
    """One rubric row as a checkpoint, and its anchor verdict if the row grades the anchor."""
    cp: dict[str, object] = {"id": _text(rec.get("id")) or f"c{i + 1:02d}", "criterion": _text(rec.get("criterion")) or ""}
    for col in ("weight", "points"):
        if col in rec:
            cp[col] = _number(sheet, sheet.rubric_cell(i, col), rec[col])
    for col in ("importance", "dimension", "tag", "polarity"):
        if col in rec:
            cp[col] = _text(rec[col])
    if "tags" in rec:
        cp["tags"] = _list(rec["tags"])
    verdict = None
    if "anchor_verdict" in rec:
        raw = (_text(rec["anchor_verdict"]) or "").lower()
        if raw not in VERDICTS:
            sheet.error(sheet.rubric_cell(i, "anchor_verdict"), f"{raw!r}: write met or not_met")
        verdict = {"checkpoint_id": cp["id"], "verdict": VERDICTS.get(raw, raw),
                   "rationale": _text(rec.get("anchor_rationale")) or ""}
    elif "anchor_rationale" in rec:
        sheet.error(sheet.rubric_cell(i, "anchor_verdict"), "a rationale without a verdict")
    return cp, verdict


def build_document(sheet: _Sheet, task: dict[str, object], rubric: list[dict[str, object]],
                   provenance: dict) -> dict:
    t = task
    cell = sheet.task_cells.get
    text = {k: _text(v) for k, v in t.items() if k not in LISTS}
    doc: dict[str, object] = {"schema_version": "1.1", "submission_id": text.get("submission_id")}
    if "submitted_at" in t:
        doc["submitted_at"] = _when(sheet, cell("submitted_at"), t["submitted_at"])
    if "expert_id" in t:
        expert: dict[str, object] = {"id": text["expert_id"], "domain": text.get("expert_domain") or text.get("domain")}
        if "expert_credentials" in t:
            expert["credentials"] = _list(t["expert_credentials"])
        if "expert_years_experience" in t:
            expert["years_experience"] = _number(sheet, cell("expert_years_experience"), t["expert_years_experience"])
        doc["expert"] = expert
    doc["domain"] = text.get("domain")
    if "category" in t:
        doc["category"] = text["category"]
    if "tags" in t:
        doc["tags"] = _list(t["tags"])
    doc["language"] = text.get("language")
    doc["task"] = {k: text[k] for k in ("scenario", "background", "deliverables", "prompt") if k in text}
    if "reference_answer" in t:
        doc["reference_answer"] = text["reference_answer"]
    checkpoints, verdicts = [], []
    for i, rec in enumerate(rubric):
        cp, v = _checkpoint(sheet, i, rec)
        checkpoints.append(cp)
        if v:
            verdicts.append(v)
    doc["rubric"] = checkpoints
    review = {}
    if "peer_reviewers" in t:
        review["peer_reviewers"] = _list(t["peer_reviewers"])
    if "senior_spot_check" in t:
        review["senior_spot_check"] = _yes_no(sheet, cell("senior_spot_check"), t["senior_spot_check"])
    if "review_notes" in t:
        review["notes"] = text["review_notes"]
    if review:
        doc["review"] = review
    if "anchor_response" in t or verdicts:
        doc["anchor"] = {"model": text.get("anchor_model"), "response": text.get("anchor_response"),
                         "verdicts": verdicts}
        if "anchor_verified_by" in t:
            doc["anchor"]["verified_by"] = _list(t["anchor_verified_by"])
    doc["source"] = {"origin": "expert", "benchmark": text.get("benchmark") or "xpertbench",
                     "provenance": provenance}
    return doc


# Where a pydantic error location points in the sheets (top-level task fields).
_TASK_LOC = {("submission_id",): "submission_id", ("submitted_at",): "submitted_at", ("domain",): "domain",
             ("category",): "category", ("language",): "language", ("tags",): "tags",
             ("reference_answer",): "reference_answer", ("expert", "id"): "expert_id",
             ("expert", "domain"): "expert_domain", ("expert", "credentials"): "expert_credentials",
             ("expert", "years_experience"): "expert_years_experience", ("anchor", "model"): "anchor_model",
             ("anchor", "response"): "anchor_response", ("anchor", "verified_by"): "anchor_verified_by",
             ("review", "peer_reviewers"): "peer_reviewers", ("review", "senior_spot_check"): "senior_spot_check",
             ("review", "notes"): "review_notes", ("source", "benchmark"): "benchmark"}


def _locate(sheet: _Sheet, doc: dict, loc: tuple) -> str:
    loc = tuple(x for x in loc if not (isinstance(x, str) and x.startswith("function-")))
    if loc[:1] == ("rubric",) and len(loc) >= 2 and isinstance(loc[1], int):
        col = next((str(x) for x in loc[2:] if isinstance(x, str)), "criterion")
        return sheet.rubric_cell(loc[1], col if col in RUBRIC_COLUMNS else "criterion").where()
    if loc[:2] == ("anchor", "verdicts") and len(loc) >= 3 and isinstance(loc[2], int):
        cid = doc["anchor"]["verdicts"][loc[2]]["checkpoint_id"]
        idx = next((i for i, c in enumerate(doc["rubric"]) if c["id"] == cid), 0)
        col = "anchor_rationale" if "rationale" in loc else "anchor_verdict"
        return sheet.rubric_cell(idx, col).where()
    if loc[:1] == ("task",) and len(loc) >= 2 and loc[1] in TASK_FIELDS:
        loc = (loc[1],)
    for n in range(len(loc), 0, -1):
        name = _TASK_LOC.get(loc[:n]) or (loc[0] if n == 1 and loc[0] in TASK_FIELDS else None)
        if name:
            c = sheet.task_cells.get(name)
            return c.where() if c else f"sheet 'Task', field {name!r} (missing)"
    return "sheet 'Task'" if loc[:1] != ("rubric",) else f"sheet {sheet.rubric_sheet!r}"


def parse_sheet(path: Path) -> tuple[dict | None, list[RecordError]]:
    """The submission document of one sheet-authored task, or every error found in it."""
    task_t, rubric_t = read_tables(path)
    sheet = _Sheet()
    for t, name in ((task_t, "Task"), (rubric_t, "Rubric")):
        if t is None:
            sheet.errors.append(RecordError(f"sheet {name!r}", "missing (see raw_submissions/templates/)"))
    if sheet.errors:
        return None, sheet.errors
    task = sheet.task_values(task_t)
    rubric = sheet.rubric_values(rubric_t)
    if not rubric:
        sheet.errors.append(RecordError(f"sheet {rubric_t.sheet!r}", "no checkpoint rows"))
    prov = {"importer": "sheet", "file": path.name, "sha256": file_sha256(path), "sheet": rubric_t.sheet,
            "rows": sheet.rubric_rows}
    doc = build_document(sheet, task, rubric, prov)
    if not sheet.errors:
        try:
            Submission.model_validate(doc)
        except ValidationError as e:
            for err in e.errors():
                sheet.errors.append(RecordError(_locate(sheet, doc, tuple(err["loc"])), err["msg"]))
    return (None if sheet.errors else doc), sheet.errors


def import_sheet(path: Path, out_dir: Path) -> ImportResult:
    """One task per file, written as `out_dir/<submission_id>.json` when it has no error at all."""
    result = ImportResult(path, out_dir)
    doc, errors = parse_sheet(path)
    result.errors += errors
    if doc is not None:
        write_documents(result, [(f"{path.name}", doc, doc["submission_id"])])
    return result
