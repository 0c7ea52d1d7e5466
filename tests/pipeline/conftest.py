"""Fixtures shared by the judge-loop tests: one anchored task and a runner on the stand-in models."""

import pytest

from pipelines.core.submission import Submission
from pipelines.llm.runner import LLMRunner
from tests.pipeline.helpers import anchored, load, models_yaml


@pytest.fixture()
def task() -> Submission:
    return Submission.model_validate(anchored("j-1", "Finance", "covenant", "e1", miss=3))


@pytest.fixture()
def runner(tmp_path):
    with LLMRunner(load(models_yaml(tmp_path / "m.yaml")), tmp_path / "calls.sqlite", progress=False) as r:
        yield r
