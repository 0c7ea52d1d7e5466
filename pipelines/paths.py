"""Project-relative locations. Everything that writes takes its folder as an argument; these are defaults."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VALIDATION_DIR = PROJECT_ROOT / "validation"
RAW_SUBMISSIONS_DIR = Path(os.environ.get("XPERTBENCH_RAW_DIR", PROJECT_ROOT / "raw_submissions"))
ASSETS_DIR = Path(os.environ.get("XPERTBENCH_ASSETS_DIR", PROJECT_ROOT / "assets"))
MODELS_CONFIG = Path(os.environ.get("XPERTBENCH_MODELS", PROJECT_ROOT / "models.yaml"))
PIPELINE_CONFIG = Path(os.environ.get("XPERTBENCH_CONFIG", PROJECT_ROOT / "xpertbench.yaml"))
