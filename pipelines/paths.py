"""Fixed project locations. Where a run reads and writes is decided by `pipelines.settings.Settings`."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VALIDATION_DIR = PROJECT_ROOT / "validation"
# Defaults only: every override (environment, CLI flag, test) goes through Settings.load().
DEFAULT_RAW_DIR = PROJECT_ROOT / "raw_submissions"
DEFAULT_ASSETS_DIR = PROJECT_ROOT / "assets"
DEFAULT_MODELS_CONFIG = PROJECT_ROOT / "models.yaml"
DEFAULT_PIPELINE_CONFIG = PROJECT_ROOT / "xpertbench.yaml"
