"""Resources: the run's settings (XpertBenchResource) and the LLM layer (LLMResource).

Both are built by `pipelines.definitions.build_definitions` from one `Settings`, so what the
assets read is always what their code versions were computed from. API keys are not fields:
each provider in models.yaml names the environment variable holding its key, read only when a
client is built, so no secret reaches Dagster's run config.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from pipelines.config import PipelineConfig
from pipelines.llm.config import ModelsConfig
from pipelines.settings import Settings


class XpertBenchResource(dg.ConfigurableResource):
    """Where inputs and outputs live and which configuration applies (see pipelines/settings.py)."""

    raw_dir: str
    assets_dir: str
    config_path: str
    models_path: str
    overrides: str = ""  # XPERTBENCH_SET syntax: section.key=value;...
    # Team deployment ("" = embedded default); never a secret (Settings refuses URLs with passwords).
    call_store: str = ""
    assets_url: str = ""
    executor: str = "default"
    celery_queue: str = "xpertbench"
    _settings: Settings | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, s: Settings) -> XpertBenchResource:
        return cls(raw_dir=str(s.raw_dir), assets_dir=str(s.assets_dir), config_path=str(s.config_path),
                   models_path=str(s.models_path), overrides=s.to_env()["XPERTBENCH_SET"],
                   call_store=s.call_store, assets_url=s.assets_url, executor=s.executor, celery_queue=s.celery_queue)

    def settings(self) -> Settings:
        if self._settings is None:
            # env={}: the fields alone decide, exactly as they did when the definitions were built.
            self._settings = Settings.load(raw_dir=self.raw_dir, assets_dir=self.assets_dir, config=self.config_path,
                                           models=self.models_path, overrides=self.overrides, env={},
                                           call_store=self.call_store, assets_url=self.assets_url,
                                           executor=self.executor, celery_queue=self.celery_queue)
        return self._settings

    def config(self) -> PipelineConfig:
        return self.settings().pipeline

    def models(self) -> ModelsConfig:
        return self.settings().models

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)

    @property
    def assets_path(self) -> Path:
        p = Path(self.assets_dir)
        p.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def call_store_path(self) -> Path:
        return self.assets_path / "llm_calls.sqlite"

    @property
    def call_store_url(self) -> str:
        """The shared call store (XPERTBENCH_CALL_STORE) or the SQLite file in the assets folder."""
        if self.call_store:
            return self.call_store
        return f"sqlite:///{self.call_store_path}"  # assets_path creates the folder


class LLMResource(dg.ConfigurableResource):
    """The LLM runner and its call store, opened for a run's steps and closed after them.

    Tests substitute it (another store, a latency for the stand-in) through build_definitions.
    """

    xpertbench: XpertBenchResource
    progress: bool = True
    standin_latency_s: float = 0.0
    _runner: object = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        from pipelines.llm.runner import LLMRunner  # the SDKs cost seconds to import

        log = context.log.info if context.log is not None else None
        self._runner = LLMRunner(self.xpertbench.models(), self.xpertbench.call_store_url, log=log,
                                 progress=self.progress, standin_latency_s=self.standin_latency_s)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    @property
    def runner(self):
        if self._runner is None:
            raise RuntimeError("LLMResource used outside a run (setup_for_execution not called)")
        return self._runner
