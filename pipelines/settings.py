"""One typed settings object for a run: where things are, the pipeline config and the models config.

Everything that can change a run goes through `Settings.load()`, in this order of precedence:
explicit arguments (CLI flags, tests) > environment variables > defaults. The Dagster definitions
are built from one Settings (`pipelines.definitions.build_definitions`), so partitions, code
versions, resources and checks can never disagree about which files they read.

Environment: XPERTBENCH_RAW_DIR, XPERTBENCH_ASSETS_DIR, XPERTBENCH_CONFIG, XPERTBENCH_MODELS and
XPERTBENCH_SET (pipeline-config overrides, `section.key=value` separated by `;`, values in YAML).
A team deployment (README "Running as a team") adds XPERTBENCH_CALL_STORE (call-store URL),
XPERTBENCH_ASSETS_URL (where the IO manager keeps tables: s3://, gs://, az://...),
XPERTBENCH_EXECUTOR (`default` or `celery`) and XPERTBENCH_CELERY_QUEUE.
A config file named explicitly (flag or variable) must exist; the default file may be absent, and
then the built-in defaults apply and `notes` says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipelines.config import PipelineConfig
from pipelines.core.frames import sha256_text, stable_json
from pipelines.llm.config import ConfigError, ModelsConfig, load_models_config
from pipelines.paths import DEFAULT_ASSETS_DIR, DEFAULT_MODELS_CONFIG, DEFAULT_PIPELINE_CONFIG, DEFAULT_RAW_DIR

ENV = {"raw_dir": "XPERTBENCH_RAW_DIR", "assets_dir": "XPERTBENCH_ASSETS_DIR",
       "config": "XPERTBENCH_CONFIG", "models": "XPERTBENCH_MODELS", "set": "XPERTBENCH_SET"}
# Team deployment: plain strings; "" means the embedded default.
TEAM_ENV = {"call_store": "XPERTBENCH_CALL_STORE", "assets_url": "XPERTBENCH_ASSETS_URL",
            "executor": "XPERTBENCH_EXECUTOR", "celery_queue": "XPERTBENCH_CELERY_QUEUE"}
EXECUTORS = ("default", "celery")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the settings: where (file, field or variable), what, and the fix."""

    where: str
    what: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.what}" + (f" (fix: {self.fix})" if self.fix else "")


class SettingsError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def parse_overrides(text: str | list[str] | None) -> dict[str, Any]:
    """`judge.template_version=judge-v2;gold.size=10` (or a list of such items) -> nested dict."""
    items = text if isinstance(text, list) else [s for s in (text or "").split(";")]
    out: dict[str, Any] = {}
    for item in (i.strip() for i in items):
        if not item:
            continue
        key, sep, raw = item.partition("=")
        parts = [p for p in key.strip().split(".") if p]
        if not sep or not parts:
            raise SettingsError([Problem(f"override {item!r}", "expected section.key=value",
                                         "e.g. --set judge.template_version=judge-v2")])
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise SettingsError([Problem(f"override {item!r}", f"{p} is set twice with different shapes")])
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def _pick(arg: str | Path | None, env: Mapping[str, str], var: str, default: Path) -> tuple[Path, bool]:
    """(path, named explicitly?)."""
    if arg is not None:
        return Path(arg), True
    if env.get(var):
        return Path(env[var]), True
    return default, False


def _pipeline_config(path: Path, named: bool, overrides: dict[str, Any], notes: list[str]) -> PipelineConfig:
    doc: Any = {}
    if path.exists():
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError) as e:
            raise SettingsError([Problem(str(path), f"cannot be read: {e}", "check the file's permissions")]) from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
            raise SettingsError([Problem(str(path), f"not valid YAML{at}: {getattr(e, 'problem', e)}",
                                         "fix the YAML syntax")]) from None
        if not isinstance(doc, dict):
            raise SettingsError([Problem(str(path), "expected a mapping of sections at top level",
                                         "see xpertbench.yaml in the project for the layout")])
    elif named:
        raise SettingsError([Problem(str(path), "pipeline config not found",
                                     f"create it, or unset {ENV['config']} / drop --config to use the defaults")])
    else:
        notes.append(f"{path.name} not found: using the built-in pipeline defaults")
    try:
        return PipelineConfig.model_validate(_merge(doc, overrides))
    except ValidationError as e:
        raise SettingsError([
            Problem(f"{path}: {'.'.join(str(x) for x in err['loc']) or '<root>'}", err["msg"],
                    "see pipelines/config.py for the allowed values")
            for err in e.errors(include_url=False)]) from None


def _models_config(path: Path, named: bool) -> ModelsConfig:
    if not path.exists():
        hint = f"unset {ENV['models']} / drop --models to use models.yaml" if named else \
            "restore models.yaml (git checkout models.yaml)"
        raise SettingsError([Problem(str(path), "models config not found", hint)])
    try:
        return load_models_config(path)
    except ConfigError as e:
        lines = [s.strip() for s in str(e).splitlines()[1:] if s.strip()] or [str(e)]
        raise SettingsError([Problem(str(path), line.removeprefix(f"{path}: "),
                                     "see pipelines/llm/config.py and models.yaml for the fields")
                             for line in lines]) from None


def _team_fields(args: Mapping[str, str | None], env: Mapping[str, str], problems: list[Problem]) -> dict[str, str]:
    """The team-deployment fields from arguments, then the environment; problems appended."""
    from pipelines.locations import assets_url_problem, call_store_problem

    out = {k: (args[k] if args[k] is not None else env.get(var, "")).strip() for k, var in TEAM_ENV.items()}
    if out["call_store"] and (why := call_store_problem(out["call_store"])):
        problems.append(Problem(TEAM_ENV["call_store"], why, "see README, Running as a team"))
    if out["assets_url"] and (why := assets_url_problem(out["assets_url"])):
        problems.append(Problem(TEAM_ENV["assets_url"], why, "see README, Running as a team"))
    out["executor"] = out["executor"] or "default"
    if out["executor"] not in EXECUTORS:
        problems.append(Problem(TEAM_ENV["executor"], f"unknown executor {out['executor']!r}",
                                f"use one of {', '.join(EXECUTORS)}"))
    out["celery_queue"] = out["celery_queue"] or "xpertbench"
    return out


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    raw_dir: Path
    assets_dir: Path
    config_path: Path
    models_path: Path
    overrides: dict[str, Any] = {}
    pipeline: PipelineConfig
    models: ModelsConfig
    notes: tuple[str, ...] = ()
    # Team deployment (all off by default): call-store URL ("" = SQLite in assets_dir), where the
    # IO manager keeps tables ("" = assets_dir), the Dagster executor and the Celery queue.
    call_store: str = ""
    assets_url: str = ""
    executor: str = "default"
    celery_queue: str = "xpertbench"

    @classmethod
    def load(cls, *, raw_dir: str | Path | None = None, assets_dir: str | Path | None = None,
             config: str | Path | None = None, models: str | Path | None = None,
             overrides: Mapping[str, Any] | str | list[str] | None = None,
             env: Mapping[str, str] | None = None, call_store: str | None = None,
             assets_url: str | None = None, executor: str | None = None,
             celery_queue: str | None = None) -> Settings:
        env = os.environ if env is None else env
        raw, _ = _pick(raw_dir, env, ENV["raw_dir"], DEFAULT_RAW_DIR)
        assets, _ = _pick(assets_dir, env, ENV["assets_dir"], DEFAULT_ASSETS_DIR)
        cfg_path, cfg_named = _pick(config, env, ENV["config"], DEFAULT_PIPELINE_CONFIG)
        models_path, models_named = _pick(models, env, ENV["models"], DEFAULT_MODELS_CONFIG)
        ov = parse_overrides(env.get(ENV["set"]))
        ov = _merge(ov, overrides if isinstance(overrides, Mapping) else parse_overrides(overrides))
        notes: list[str] = []
        problems: list[Problem] = []
        pipeline = mcfg = None
        for build in ("pipeline", "models"):
            try:
                if build == "pipeline":
                    pipeline = _pipeline_config(cfg_path, cfg_named, ov, notes)
                else:
                    mcfg = _models_config(models_path, models_named)
            except SettingsError as e:
                problems += e.problems
        team = _team_fields({"call_store": call_store, "assets_url": assets_url, "executor": executor,
                             "celery_queue": celery_queue}, env, problems)
        if problems:
            raise SettingsError(problems)
        if mcfg is not None and mcfg.judge in mcfg.candidates:
            notes.append(f"the judge {mcfg.judge!r} is also a candidate: it grades its own answers, which favours "
                         "it (self-preference); rank it with a different judge model")
        return cls(raw_dir=raw.absolute(), assets_dir=assets.absolute(), config_path=cfg_path.absolute(),
                   models_path=models_path.absolute(), overrides=ov, pipeline=pipeline, models=mcfg,
                   notes=tuple(notes), **team)

    # -- derived ---------------------------------------------------------------------------
    @property
    def candidates(self) -> list[str]:
        return list(self.models.candidates)

    @property
    def call_store_path(self) -> Path:
        return self.assets_dir / "llm_calls.sqlite"

    @property
    def call_store_url(self) -> str:
        """The call store the LLM runner opens: XPERTBENCH_CALL_STORE, or SQLite in the assets folder."""
        return self.call_store or f"sqlite:///{self.call_store_path}"

    @property
    def assets_base(self) -> str:
        """Where the IO manager keeps tables: XPERTBENCH_ASSETS_URL, or the local assets folder."""
        return self.assets_url or str(self.assets_dir)

    def to_env(self) -> dict[str, str]:
        """The environment that makes `Settings.load()` in another process give these settings."""
        flat = []

        def walk(prefix: str, node: Any) -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                flat.append(f"{prefix}={yaml.safe_dump(node, default_flow_style=True).strip().removesuffix('...').strip()}")

        walk("", self.overrides)
        return {ENV["raw_dir"]: str(self.raw_dir), ENV["assets_dir"]: str(self.assets_dir),
                ENV["config"]: str(self.config_path), ENV["models"]: str(self.models_path), ENV["set"]: ";".join(flat),
                **{var: str(getattr(self, field)) for field, var in TEAM_ENV.items()}}

    def fingerprint(self) -> str:
        return sha256_text(stable_json({"pipeline": self.pipeline.model_dump(mode="json"),
                                        "models": self.models.model_dump(mode="json")}))[:16]
