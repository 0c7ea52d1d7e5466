"""Provenance and results in the UI: what a user sees on the materialisations, read back from a real
Dagster instance after a real run (stand-in models), and the same chain from `xpertbench trace`."""

import json
import re
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from rich.console import Console

from pipelines.cli import main as cli
from pipelines.cli.orchestrate import run_all
from pipelines.cli.trace import print_trace, trace
from pipelines.core.columns import column
from pipelines.paths import DEFAULT_RAW_DIR
from pipelines.settings import Settings
from tests.pipeline.helpers import models_yaml, pipeline_defs, pipeline_yaml, small_raw_folder

HB = Path(__file__).resolve().parents[1] / "fixtures" / "healthbench"
FLAWED = ["generated/bad_invalid_json.json", "generated/curation_missing_component.json"]
LONG = ("Explains that the audited covenant headroom equals 107 after the blended refinancing, citing the "
        "trailing amortisation schedule, the collateral haircut and the counterparty guarantee in full")
PCT = re.compile(r"^-?\d+\.\d$")  # percent with exactly one decimal


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("view")
    raw = root / "raw"
    small_raw_folder(raw, per_domain=2)
    # A long criterion gives the stand-in judge a long rationale (matched and missing words).
    p = raw / "t-covenant-0.json"
    d = json.loads(p.read_text())
    d["rubric"][0]["criterion"] = LONG
    p.write_text(json.dumps(d, indent=1))
    for f in FLAWED:  # one quarantined file, one task curation drops
        shutil.copy(DEFAULT_RAW_DIR / "flawed" / f, raw / Path(f).name)
    # A second benchmark source (points rubrics, meta-evaluation) so every column kind is produced.
    assert cli(["import", "healthbench", str(HB / "healthbench_sample.jsonl"), "--name", "healthbench",
                "--meta-eval", str(HB / "meta_eval_sample.jsonl"), "--raw-dir", str(raw)]) == 0
    paths = dict(raw_dir=raw, assets_dir=root / "assets", config=pipeline_yaml(root / "xb.yaml"),
                 models=models_yaml(root / "models.yaml"))
    defs = pipeline_defs(*(str(paths[k]) for k in ("raw_dir", "assets_dir", "config", "models")))
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_all(instance, defs=defs, echo=lambda s: None)
        yield {"dir": root / "assets", "raw": raw, "instance": instance,
               "settings": Settings.load(**{k: str(v) for k, v in paths.items()}, env={})}


def metadata(run, asset: str, partition: str | None = None) -> dict:
    flt = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None)
    rec = run["instance"].fetch_materializations(flt, limit=1).records[0]
    return dict(rec.asset_materialization.metadata)


def rows(table: dg.TableMetadataValue) -> list[dict]:
    return [dict(r.data) for r in table.records]


def table_assets(run) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for p in sorted(run["dir"].rglob("*.parquet")):
        rel = p.relative_to(run["dir"])
        out.setdefault(rel.parts[0].removesuffix(".parquet"), []).append(p)
    return out


def test_every_parquet_column_of_every_table_asset_has_a_description(run):
    assets = table_assets(run)
    assert {"provenance", "judge_agreement", "rubrics", "task_scores"} <= set(assets)
    undocumented = {(a, c) for a, files in assets.items() for f in files for c in pd.read_parquet(f).columns
                    if not (column(a, c) and column(a, c).description)}
    assert not undocumented
    # ... and the UI gets them: dagster/column_schema of each materialisation carries every description.
    for a, files in assets.items():
        part = files[0].stem if len(files) > 1 or files[0].parent != run["dir"] else None
        schema = metadata(run, a, part)["dagster/column_schema"].schema
        assert [c.name for c in schema.columns] == list(pd.read_parquet(files[0]).columns)
        assert all(c.description for c in schema.columns), a


def test_provenance_table_has_one_row_per_gold_task_in_parquet_and_in_the_ui(run):
    gold = pd.read_parquet(run["dir"] / "gold_tasks.parquet")
    for model in ("oracle", "partial", "generic"):
        df = pd.read_parquet(run["dir"] / "provenance" / f"{model}.parquet")
        assert sorted(df["task_id"]) == sorted(gold["task_id"])
        md = metadata(run, "provenance", model)
        assert isinstance(md["provenance"], dg.TableMetadataValue)
        ui = rows(md["provenance"])
        assert [r["task_id"] for r in ui] == list(df["task_id"])
        assert all(re.fullmatch(r"[0-9a-f]{64}", r["source_sha256"]) for r in ui)
        assert all(r["model_reported"] and r["judge_model_reported"] for r in ui)


KEYS = {"source_sha256": ("raw_file", "sha256_recorded"), "rubric_hash": ("rubric", "rubric_hash")}


@pytest.mark.parametrize("model", ["partial", "generic"])
def test_ui_provenance_rows_and_trace_agree(run, model):
    ui = {r["task_id"]: r for r in rows(metadata(run, "provenance", model)["provenance"])}
    for task_id in ("t-covenant-0", "t-sepsis-1"):
        row, t = ui[task_id], trace(task_id, model, assets_dir=run["dir"], raw_dir=run["raw"])
        m = t["models"][model]
        expected = {
            "source_sha256": t["raw_file"]["sha256_recorded"], "rubric_hash": t["rubric"]["rubric_hash"],
            "prompt_template_hash": m["generation"]["prompt_template_hash"],
            "generation_call_key": m["generation"]["call_key"], "model_reported": m["generation"]["model_reported"],
            "judge_call_keys": " ".join(m["judge"]["call_keys"]), "judge_config": m["judge"]["judge_config"],
            "judge_template_hash": m["judge"]["template_hash"],
            "judge_model_reported": m["judge"]["model_reported"],
            "score": f"{100 * m['score']['score']:.1f}",
        }
        assert {k: row[k] for k in expected} == expected
        # The printed trace shows the same values, in full, where a user can search the UI for them.
        con = Console(record=True, width=200)
        assert print_trace(None, task_id, model, console=con, settings=run["settings"]) == 0
        text = con.export_text()
        for k, v in expected.items():
            for part in v.split():
                assert part in text, (k, part)
        assert f"= {row['score']}% " in text


def test_trace_shows_the_criterion_and_wraps_long_rationales_whole(run):
    t = trace("t-covenant-0", "generic", assets_dir=run["dir"], raw_dir=run["raw"])
    cid, _, _, criterion, rationale = t["models"]["generic"]["verdicts"][0]
    assert criterion == LONG and len(rationale) > 90
    con = Console(record=True, width=80)
    print_trace(None, "t-covenant-0", "generic", console=con, settings=run["settings"])
    lines = con.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{cid}  weight"))
    block = lines[start + 1:start + 12]
    # Re-joined, the wrapped lines give back the whole criterion and the whole rationale: nothing cut.
    joined = " ".join(line.strip() for line in block)
    assert f"criterion: {LONG}" in joined
    assert f"rationale: {' '.join(rationale.split())}" in joined


def test_results_are_tables_in_percent_with_one_decimal(run):
    board = metadata(run, "leaderboard")["preview"]
    assert isinstance(board, dg.TableMetadataValue)
    for r in rows(board):
        assert PCT.match(r["score"]) and PCT.match(r["judge_error_rate"])
        assert isinstance(r["tasks_complete"], int) and isinstance(r["rank"], int)
        assert r["ci"] and "n/a" in r["ci"] or re.fullmatch(r"-?\d+\.\d - -?\d+\.\d", r["ci"])
    dom = metadata(run, "domain_scores")
    table3 = rows(dom["table_3_xpertbench"])
    assert {r["model"] for r in table3} == {"oracle", "partial", "generic"}
    assert all(PCT.match(r["Overall"]) for r in table3)
    agree = rows(metadata(run, "judge_agreement")["summary"])
    assert agree and all(PCT.match(r["cdr"]) and isinstance(r["n_tasks"], int) for r in agree)
    dropped = rows(metadata(run, "curation_log")["dropped_detail"])
    assert any(r["rule"] for r in dropped)
    # Results are never only behind "Show Markdown".
    for asset in ("leaderboard", "domain_scores", "category_scores", "judge_agreement", "curation_log",
                  "task_scores"):
        md = metadata(run, asset, "partial" if asset == "task_scores" else None)
        assert not [k for k, v in md.items() if isinstance(v, dg.MarkdownMetadataValue)], asset


def test_report_shows_charts_as_files_and_the_leaderboard_as_a_table(run):
    md = metadata(run, "report")
    assert isinstance(md["leaderboard"], dg.TableMetadataValue)
    charts = {k: v for k, v in md.items() if k.startswith("chart_")}
    assert charts and all(isinstance(v, dg.PathMetadataValue) and Path(v.path).is_file() for v in charts.values())


def test_per_model_check_results_name_their_model(run):
    storage = run["instance"].event_log_storage
    for asset, check in (("judgements", "judge_error_rate"), ("task_scores", "all_gold_tasks_scored")):
        records = storage.get_asset_check_execution_history(dg.AssetCheckKey(dg.AssetKey(asset), check), limit=20)
        seen = set()
        for rec in records:
            ev = rec.event.dagster_event.asset_check_evaluation_data
            model = ev.partition
            assert ev.description.startswith(f"{model}: ") and model in ev.description.split(": ", 1)[1]
            assert ev.metadata["model"].value == model
            seen.add(model)
        assert seen == {"oracle", "partial", "generic"}


def test_terminal_summary_uses_the_same_units(run):
    from pipelines.cli.summary import print_summary

    con = Console(record=True, width=160)
    print_summary(run["dir"], con)
    text = con.export_text()
    board = pd.read_parquet(run["dir"] / "leaderboard.parquet")
    for r in board.itertuples():
        line = next(li for li in text.splitlines() if f" {r.model} " in li and f"{r.tasks_complete}/{r.tasks_gold}" in li)
        assert f" {100 * r.score:.1f} " in line
        assert re.search(r"\d+\.\d - \d+\.\d|n/a \(", line)
    assert not re.search(r"\b\d+\.000\b", text)  # no count printed as 8.000
