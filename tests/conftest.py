import os
import tempfile

# Dagster must never write to the developer's .dagster_home from tests.
os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="xb-dagster-home-"))
