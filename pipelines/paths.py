"""Fixed project locations. Where a run reads and writes is decided by `pipelines.settings.Settings`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VALIDATION_DIR = PROJECT_ROOT / "validation"
# Defaults only: every override (environment, CLI flag, test) goes through Settings.load().
DEFAULT_RAW_DIR = PROJECT_ROOT / "raw_submissions"
DEFAULT_ASSETS_DIR = PROJECT_ROOT / "assets"
DEFAULT_MODELS_CONFIG = PROJECT_ROOT / "models.yaml"
DEFAULT_PIPELINE_CONFIG = PROJECT_ROOT / "xpertbench.yaml"
DEPLOY_DIR = PROJECT_ROOT / "deploy"  # the team profile: deploy/dagster.yaml (Postgres instance)
PROFILES = {"embedded": PROJECT_ROOT / ".dagster_home", "team": DEPLOY_DIR}


def dagster_home(env: Mapping[str, str] | None = None) -> Path:
    """DAGSTER_HOME if set, else the folder of the XPERTBENCH_PROFILE instance (embedded by default)."""
    env = os.environ if env is None else env
    if env.get("DAGSTER_HOME"):
        return Path(env["DAGSTER_HOME"])
    profile = env.get("XPERTBENCH_PROFILE", "").strip() or "embedded"
    if profile not in PROFILES:
        raise ValueError(f"XPERTBENCH_PROFILE={profile!r}: use one of {', '.join(PROFILES)}")
    return PROFILES[profile]
