"""Shared builders for pipeline tests: model configs, small raw folders, Dagster resources."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from pipelines.llm.config import ModelsConfig, load_models_config
from tests.core.factories import submission_dict

DOMAINS = ["Finance", "Law", "Education", "Engineering & Applied Sciences", "Humanities & Social Sciences",
           "Computer Science", "Healthcare"]
TOPICS = ["covenant", "tenancy", "phonics", "turbine", "archive", "compiler", "sepsis"]
CATEGORY = {"Finance": "Equity Research & Corporate Analysis", "Law": "Legal Research & Case Retrieval",
            "Education": "Subject Teaching & Tutoring",
            "Engineering & Applied Sciences": "Technical Analysis & Diagnostic Assessment",
            "Humanities & Social Sciences": "Social Research & Professional Consulting",
            "Computer Science": "Software Development & Data Practice",
            "Healthcare": "Clinical Diagnosis & Case Analysis"}


def models_yaml(path: Path, *, base_url: str | None = None, candidates: tuple[str, ...] = ("oracle", "partial", "generic"),
                extra_models: dict | None = None, api_key_env: str | None = None) -> Path:
    """A stand-in config; with base_url the providers use that (external, countable) server."""
    prov = {"kind": "standin", "max_concurrency": 8, "timeout_s": 10, "deadline_s": 60, "max_retries": 2,
            "retry_after_cap_s": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.05}
    if api_key_env:
        prov["api_key_env"] = api_key_env
    if base_url:
        prov_oa = {**prov, "protocol": "openai", "base_url": base_url + "/v1"}
        prov_an = {**prov, "protocol": "anthropic", "base_url": base_url}
    else:
        prov_oa, prov_an = {**prov, "protocol": "openai"}, {**prov, "protocol": "anthropic"}
    models = {
        "oracle": {"provider": "standin-openai", "model_id": "standin-oracle", "max_tokens": 2048},
        "partial": {"provider": "standin-anthropic", "model_id": "standin-partial", "max_tokens": 2048},
        "generic": {"provider": "standin-openai", "model_id": "standin-generic", "max_tokens": 2048},
        "standin-judge": {"provider": "standin-openai", "model_id": "standin-judge", "max_tokens": 4096},
        **(extra_models or {}),
    }
    doc = {"version": "test", "providers": {"standin-openai": prov_oa, "standin-anthropic": prov_an},
           "models": models, "candidates": list(candidates), "judge": "standin-judge"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def load(path: Path) -> ModelsConfig:
    return load_models_config(path)


def anchored(sid: str, domain: str, topic: str, expert: str, miss: int = 3) -> dict:
    """A factory submission with an anchor answer that covers all but `miss` checkpoints."""
    d = submission_dict(sid, expert=expert, domain=domain, topic=topic, category=CATEGORY[domain])
    d["task"]["background"] += f" Extra {topic} facts for {sid}."
    crit = [c["criterion"] for c in d["rubric"]]
    d["anchor"] = {
        "model": "sample-anchor",
        "response": " ".join(c + "." for c in crit[miss:]),
        "verdicts": [{"checkpoint_id": c["id"], "verdict": "not_met" if i < miss else "met",
                      "rationale": "omitted" if i < miss else "present"} for i, c in enumerate(d["rubric"])],
        "verified_by": ["senior-1"],
    }
    return d


def small_raw_folder(root: Path, per_domain: int = 2) -> list[str]:
    """per_domain anchored tasks in each of the 7 domains; returns the submission ids."""
    root.mkdir(parents=True, exist_ok=True)
    ids = []
    for di, (dom, topic) in enumerate(zip(DOMAINS, TOPICS)):
        for k in range(per_domain):
            sid = f"t-{topic}-{k}"
            d = anchored(sid, dom, f"{topic}{k}x", f"exp-{di}-{k}", miss=2 + k)
            (root / f"{sid}.json").write_text(json.dumps(d, indent=1))
            ids.append(sid)
    return ids


def pipeline_yaml(path: Path, **sections: dict) -> Path:
    doc = {"gold": {"share": 1.0, "min_per_domain": 1}, "agreement": {"bootstrap_samples": 200},
           "stats": {"bootstrap_samples": 200}}
    for k, v in sections.items():
        doc[k] = {**doc.get(k, {}), **v}
    path.write_text(yaml.safe_dump(doc))
    return path


def pipeline_defs(raw: Path, assets: Path, config: Path, models: Path, **llm_options):
    """Definitions for a test run, built from one Settings exactly as the CLI builds them."""
    from pipelines.definitions import build_definitions
    from pipelines.settings import Settings

    s = Settings.load(raw_dir=raw, assets_dir=assets, config=config, models=models, env={})
    return build_definitions(s, **llm_options)


def reports_from_mixed_versions(inst, since_storage_id: int, models) -> list[str]:
    """Reports built from mixed versions after an edit: every report materialised after the edit's
    observation (storage id `since_storage_id`) must come after a new materialisation of Gold, the rubrics
    and every model partition (all of which such an edit re-runs). Reads only the event log, so it is
    independent of how automation decides."""
    import dagster as dg

    flt = dg.AssetRecordsFilter
    bad = []
    for rec in inst.fetch_materializations(flt(asset_key=dg.AssetKey("report"), after_storage_id=since_storage_id),
                                           limit=1000).records:
        for name in ("gold_tasks", "rubrics", "generations", "judgements", "task_scores"):
            for p in (models if name in ("generations", "judgements", "task_scores") else [None]):
                done = inst.fetch_materializations(flt(
                    asset_key=dg.AssetKey(name), asset_partitions=[p] if p else None,
                    after_storage_id=since_storage_id, before_storage_id=rec.storage_id), limit=1).records
                if not done:
                    bad.append(f"report {rec.storage_id} built before {name}" + (f"[{p}]" if p else "") + " was rebuilt")
    return bad
