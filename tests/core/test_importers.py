"""Importers: round trips for each format, idempotent writes, provenance, errors with their location."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

from openpyxl import load_workbook

from pipelines.cli import main as cli
from pipelines.core.intake import parse_folder
from pipelines.importers.healthbench import import_healthbench, to_healthbench
from pipelines.importers.healthbench_meta import import_meta_eval, to_meta_eval_lines
from pipelines.importers.sheet import import_sheet, parse_sheet
from pipelines.paths import DEFAULT_RAW_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "healthbench"
HB = FIXTURES / "healthbench_sample.jsonl"
META = FIXTURES / "meta_eval_sample.jsonl"
TEMPLATES = DEFAULT_RAW_DIR / "templates"


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _docs(folder: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*.json"))}


# --- HealthBench ------------------------------------------------------------------------------------

def test_healthbench_round_trip_every_line(tmp_path):
    r = import_healthbench(HB, tmp_path / "hb", name="healthbench")
    assert r.ok and len(r.written) == len(_lines(HB))
    back = {d["source"]["provenance"]["original_id"]: to_healthbench(d) for d in _docs(tmp_path / "hb")}
    for line in _lines(HB):
        assert back[line["prompt_id"]] == line


def test_every_imported_file_is_accepted_by_intake_and_carries_provenance(tmp_path):
    import_healthbench(HB, tmp_path / "hb", name="healthbench")
    sha = hashlib.sha256(HB.read_bytes()).hexdigest()
    results = parse_folder(tmp_path)
    assert results and all(x.submission is not None for x in results)
    by_id = {x.submission.source.provenance.original_id: x.submission for x in results}
    for n, line in enumerate(HB.read_text(encoding="utf-8").splitlines(), start=1):
        prov = by_id[json.loads(line)["prompt_id"]].source.provenance
        assert (prov.file, prov.sha256, prov.lines, prov.importer) == (HB.name, sha, [n], "healthbench")
    s = by_id["hb-en-01"]
    assert s.rubric_kind == "points" and s.benchmark == "healthbench" and s.rubric[3].points == -8


def test_reimport_rewrites_nothing(tmp_path):
    out = tmp_path / "hb"
    import_healthbench(HB, out, name="healthbench")
    import_meta_eval(META, out, name="healthbench")
    before = _snapshot(out)
    r1, r2 = import_healthbench(HB, out, name="healthbench"), import_meta_eval(META, out, name="healthbench")
    assert not r1.written and not r2.written and len(r1.unchanged) + len(r2.unchanged) == len(before)
    assert _snapshot(out) == before  # byte-identical, not even touched


def test_bad_lines_are_reported_by_number_and_do_not_stop_the_others(tmp_path):
    good = HB.read_text(encoding="utf-8").splitlines()
    bad_rubric = json.loads(good[1])
    bad_rubric["rubrics"][0]["points"] = "ten"
    no_prompt = json.loads(good[2])
    del no_prompt["prompt"]
    bad_role = json.loads(good[3])
    bad_role["prompt"][0]["role"] = "tool"
    src = tmp_path / "mixed.jsonl"
    src.write_text("\n".join([good[0], json.dumps(bad_rubric), json.dumps(no_prompt), json.dumps(bad_role),
                              "{not json", good[0], good[4]]) + "\n", encoding="utf-8")
    r = import_healthbench(src, tmp_path / "out", name="hb")
    where = {e.where: e.message for e in r.errors}
    assert set(where) == {"line 2", "line 3", "line 4", "line 5", "line 6"}
    assert "points must be a number" in where["line 2"] and "missing field(s) prompt" in where["line 3"]
    assert "role" in where["line 4"] and "invalid JSON" in where["line 5"] and "already on line 1" in where["line 6"]
    assert len(r.written) == 2


def test_cli_import_exit_codes_and_default_folder(tmp_path, capsys):
    assert cli(["import", "healthbench", str(HB), "--name", "hb", "--raw-dir", str(tmp_path)]) == 0
    assert len(list((tmp_path / "hb").glob("*.json"))) == len(_lines(HB))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(HB.read_text(encoding="utf-8").splitlines()[0] + "\n[]\n", encoding="utf-8")
    assert cli(["import", "healthbench", str(bad), "--name", "hb2", "--raw-dir", str(tmp_path)]) == 1
    assert "bad.jsonl: line 2: a line must be a JSON object" in capsys.readouterr().err
    assert cli(["import", "healthbench", str(HB), "--name", "no/slash", "--raw-dir", str(tmp_path)]) == 2


# --- meta-evaluation ---------------------------------------------------------------------------------

def test_meta_eval_round_trip_and_grader_verdicts(tmp_path):
    r = import_meta_eval(META, tmp_path / "hb", name="healthbench")
    assert r.ok and len(r.written) == 3
    docs = _docs(tmp_path / "hb" / "meta_eval")
    back = sorted((json.dumps(x, sort_keys=True) for d in docs for x in to_meta_eval_lines(d)))
    assert back == sorted(json.dumps(x, sort_keys=True) for x in _lines(META))
    subs = [x.submission for x in parse_folder(tmp_path)]
    assert all(s is not None and s.source.use == "meta_eval" and s.rubric_kind == "unscored" for s in subs)
    s = next(s for s in subs if s.source.provenance.original_id == "hb-en-09")
    verdicts = [(v.grader_id, v.completion_id, v.verdict) for v in s.rubric[0].grader_verdicts]
    assert ("phys-04", "cmp-b", "not_met") in verdicts and ("phys-01", "cmp-a", "met") in verdicts
    assert s.source.provenance.lines == [1, 2, 3]


def test_meta_eval_bad_lines(tmp_path):
    lines = _lines(META)
    unequal = dict(lines[0], binary_labels=[True])
    retext = dict(lines[0], completion="another text for the same completion id")
    src = tmp_path / "meta.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in [lines[0], unequal, lines[3], retext]) + "\n", encoding="utf-8")
    r = import_meta_eval(src, tmp_path / "out", name="hb")
    where = {e.where: e.message for e in r.errors}
    assert "1 binary_labels but 3 anonymized_physician_ids" in where["line 2"]
    assert "another text" in where["line 4"]
    assert len(r.written) == 2


# --- spreadsheet -------------------------------------------------------------------------------------

def test_template_imports_the_same_task_from_xlsx_and_csv(tmp_path):
    docs = {}
    for name in ("task_template.xlsx", "task_template.csv"):
        r = import_sheet(TEMPLATES / name, tmp_path / name)
        assert r.ok, r.errors
        (doc,) = _docs(tmp_path / name)
        prov = doc["source"].pop("provenance")
        assert prov["file"] == name and prov["sha256"] == hashlib.sha256((TEMPLATES / name).read_bytes()).hexdigest()
        assert len(prov["rows"]) == len(doc["rubric"]) == 15
        docs[name] = doc
    assert docs["task_template.xlsx"] == docs["task_template.csv"]
    assert all(x.submission.anchor is not None for x in parse_folder(tmp_path / "task_template.csv"))


def test_sheet_round_trip(tmp_path):
    """Cells -> document -> cells: every rubric cell of the template comes back from the submission."""
    doc, errors = parse_sheet(TEMPLATES / "task_template.csv")
    assert not errors
    with (TEMPLATES / "task_template.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    head = rows.index(next(r for r in rows if r[:2] == ["id", "criterion"]))
    verdicts = {v["checkpoint_id"]: v for v in doc["anchor"]["verdicts"]}
    for row, cp in zip(rows[head + 1:], doc["rubric"]):
        rec = dict(zip(rows[head], row))
        assert (rec["id"], rec["criterion"], float(rec["weight"]), rec["importance"], rec["dimension"], rec["tag"],
                rec["polarity"]) == (cp["id"], cp["criterion"], cp["weight"], cp["importance"], cp["dimension"],
                                     cp["tag"], cp["polarity"])
        assert (rec["anchor_verdict"], rec["anchor_rationale"]) == (verdicts[cp["id"]]["verdict"],
                                                                    verdicts[cp["id"]]["rationale"])
    task = {r[0]: r[1] for r in rows[1:head - 1] if r and r[1]}
    assert doc["task"]["scenario"] == task["scenario"] and doc["reference_answer"] == task["reference_answer"]
    assert doc["expert"]["credentials"] == ["CFA", "FRM"] and doc["submitted_at"] == task["submitted_at"]


def test_sheet_reimport_is_idempotent(tmp_path):
    import_sheet(TEMPLATES / "task_template.xlsx", tmp_path)
    before = _snapshot(tmp_path)
    assert not import_sheet(TEMPLATES / "task_template.xlsx", tmp_path).written
    assert _snapshot(tmp_path) == before


def test_every_sheet_error_is_reported_with_sheet_row_and_column(tmp_path):
    path = tmp_path / "broken.xlsx"
    shutil.copy(TEMPLATES / "task_template.xlsx", path)
    wb = load_workbook(path)
    task, rubric = wb["Task"], wb["Rubric"]
    for row in task.iter_rows(min_row=2):
        if row[0].value == "domain":
            row[1].value = "Astrology"
        if row[0].value == "senior_spot_check":
            row[1].value = "perhaps"
    rubric["C3"] = "ten"          # weight of the 2nd checkpoint
    rubric["D5"] = "Critical"     # importance of the 4th
    rubric["J6"] = "maybe"        # anchor verdict of the 5th
    rubric["L1"] = "colour"       # an unknown column
    wb.save(path)
    r = import_sheet(path, tmp_path / "out")
    got = {e.where for e in r.errors}
    assert "sheet 'Rubric', row 3, column C 'weight'" in got
    assert "sheet 'Rubric', row 6, column J 'anchor_verdict'" in got
    assert "sheet 'Rubric', row 1, column L 'colour'" in got
    assert any(w.startswith("sheet 'Task', row ") and w.endswith("column B 'value'") for w in got)
    assert not r.written and not (tmp_path / "out").exists()
    # Schema errors are mapped back to their cell too (after the cell-level ones are fixed).
    wb = load_workbook(path)
    wb["Rubric"]["C3"], wb["Rubric"]["J6"], wb["Rubric"]["L1"] = 5, "met", None
    for row in wb["Task"].iter_rows(min_row=2):
        if row[0].value == "senior_spot_check":
            row[1].value = "yes"
    wb.save(path)
    r = import_sheet(path, tmp_path / "out")
    got = {e.where: e.message for e in r.errors}
    assert "sheet 'Rubric', row 5, column D 'importance'" in got
    domain_row = next(c.row for c in wb["Task"]["A"] if c.value == "domain")
    assert "unknown domain" in got[f"sheet 'Task', row {domain_row}, column B 'value'"]


def test_csv_sheet_errors_name_the_file_row(tmp_path):
    text = (TEMPLATES / "task_template.csv").read_text(encoding="utf-8")
    rows = text.splitlines()
    i = next(n for n, line in enumerate(rows) if line.startswith("c04,"))
    rows[i] = rows[i].replace(",8,Essential,", ",eight,Essential,")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    r = import_sheet(path, tmp_path / "out")
    assert [e.where for e in r.errors] == [f"sheet 'Rubric', row {i + 1}, column C 'weight'"]
