"""Candidate models are the partitions (one per model in models.yaml), never tasks."""

import dagster as dg

from pipelines.llm.config import load_models_config
from pipelines.paths import MODELS_CONFIG

# Static, read from the versioned config: adding a model to models.yaml adds one partition and
# leaves the others' materialisations fresh.
candidate_partitions = dg.StaticPartitionsDefinition(load_models_config(MODELS_CONFIG).candidates)
