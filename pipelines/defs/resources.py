"""The one project resource: where inputs and outputs live and which configuration files apply.

API keys are not fields here: each provider in models.yaml names the environment variable that
holds its key, read only when a client is built, so no secret reaches Dagster's run config.
"""


from pathlib import Path

import dagster as dg

from pipelines.config import PipelineConfig, load_config
from pipelines.paths import ASSETS_DIR, MODELS_CONFIG, PIPELINE_CONFIG, RAW_SUBMISSIONS_DIR


class XpertBenchResource(dg.ConfigurableResource):
    raw_dir: str = str(RAW_SUBMISSIONS_DIR)
    assets_dir: str = str(ASSETS_DIR)
    config_path: str = str(PIPELINE_CONFIG)
    models_path: str = str(MODELS_CONFIG)

    def config(self) -> PipelineConfig:
        return load_config(self.config_path)

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)

    @property
    def assets_path(self) -> Path:
        p = Path(self.assets_dir)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def models(self):
        return models_config_for(self.models_path)

    @property
    def call_store_path(self) -> Path:
        return self.assets_path / "llm_calls.sqlite"


def models_config_for(path: str):
    from pipelines.llm.config import load_models_config

    return load_models_config(path)
