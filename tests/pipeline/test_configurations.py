"""Configurations a user is likely to write: each gives a leaderboard and a report, or one line saying why not.

Every case is a real run (Dagster instance, parquet, stand-in models through the SDKs) of the
7-domain sample folder. One candidate alone is covered by test_settings.py.
"""

import json

import dagster as dg
import pandas as pd
import pytest
import yaml

from pipelines.cli.orchestrate import run_all
from pipelines.definitions import build_definitions
from pipelines.settings import Settings
from tests.pipeline.helpers import models_yaml, pipeline_yaml, small_raw_folder


def run(tmp_path, *, models=None, config=None) -> dict:
    """Run everything; returns the CLI lines, the settings notes, the Dagster warnings and the assets."""
    s = Settings.load(raw_dir=tmp_path / "raw", assets_dir=tmp_path / "assets",
                      config=config or pipeline_yaml(tmp_path / "xb.yaml"),
                      models=models or models_yaml(tmp_path / "m.yaml"), env={})
    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as inst:
        ok = run_all(inst, build_definitions(s), echo=lines.append)
        warnings = [e.message for r in inst.get_runs() for e in inst.all_logs(r.run_id)
                    if e.level >= 30 and e.dagster_event is None]
    assets = tmp_path / "assets"
    board = pd.read_parquet(assets / "leaderboard.parquet") if (assets / "leaderboard.parquet").exists() else None
    return {"ok": ok, "lines": lines, "notes": s.notes, "warnings": warnings, "assets": assets, "board": board,
            "report": (assets / "report" / "report.html").exists()}


@pytest.fixture()
def raw(tmp_path):
    return small_raw_folder(tmp_path / "raw", per_domain=1)


def test_the_judge_also_a_candidate_is_ranked_and_flagged(tmp_path, raw):
    out = run(tmp_path, models=models_yaml(tmp_path / "m.yaml", candidates=("oracle", "standin-judge")))
    assert out["ok"] and out["report"]
    assert set(out["board"]["model"]) == {"oracle", "standin-judge"}
    assert any("'standin-judge' is also a candidate" in n and "self-preference" in n for n in out["notes"])


def test_no_anchors_at_all_judges_zero_shot_and_says_so(tmp_path, raw):
    for f in (tmp_path / "raw").glob("*.json"):
        doc = json.loads(f.read_text())
        doc.pop("anchor")
        f.write_text(json.dumps(doc))
    out = run(tmp_path)
    assert out["ok"] and out["report"] and set(out["board"]["model"]) == {"oracle", "partial", "generic"}
    modes = pd.read_parquet(out["assets"] / "judgements" / "oracle.parquet")["judge_mode"]
    assert set(modes) == {"zeroshot_fallback"}
    assert any("have no anchor; judged zero-shot" in w for w in out["warnings"])
    assert len(pd.read_parquet(out["assets"] / "judge_agreement.parquet")) == 0  # nothing to agree with


def test_a_gold_subset_of_one_task(tmp_path, raw):
    cfg = pipeline_yaml(tmp_path / "xb.yaml", gold={"size": 1, "min_per_domain": 0})
    out = run(tmp_path, config=cfg)
    assert out["ok"] and out["report"]
    assert len(pd.read_parquet(out["assets"] / "gold_tasks.parquet")) == 1
    assert set(out["board"]["model"]) == {"oracle", "partial", "generic"}


def test_a_gold_size_below_the_per_domain_floor_says_why_it_is_larger(tmp_path, raw):
    cfg = tmp_path / "xb.yaml"
    cfg.write_text(yaml.safe_dump({"gold": {"size": 1}}))  # min_per_domain keeps its default of 3
    out = run(tmp_path, config=cfg)
    assert out["ok"] and out["report"]
    assert len(pd.read_parquet(out["assets"] / "gold_tasks.parquet")) == 7
    assert any("has 7 tasks, not gold.size=1: gold.min_per_domain=3" in w for w in out["warnings"])


def test_a_candidate_whose_every_generation_fails_gets_one_line_saying_why(tmp_path, raw):
    models = models_yaml(tmp_path / "m.yaml", extra_models={
        "generic": {"provider": "standin-openai", "model_id": "standin-missing", "max_tokens": 256}})
    out = run(tmp_path, models=models)
    assert not out["ok"] and out["board"] is None  # no leaderboard from a failing partition ...
    why = [s for s in out["lines"] if s.startswith("[xpertbench] model generic: every generation failed (7 of 7)")]
    assert len(why) == 1 and "NotFoundError" in why[0] and "standin-missing" in why[0]  # ... and why
    assert any("aggregates not updated: generic failed" in s for s in out["lines"])


def test_a_domain_with_no_tasks(tmp_path, raw):
    for f in (tmp_path / "raw").glob("t-sepsis-*.json"):  # the only Healthcare task
        f.unlink()
    out = run(tmp_path)
    assert out["ok"] and out["report"] and set(out["board"]["model"]) == {"oracle", "partial", "generic"}
    domains = set(pd.read_parquet(out["assets"] / "domain_scores.parquet")["domain"])
    assert "Healthcare" not in domains and len(domains - {"Overall"}) == 6
