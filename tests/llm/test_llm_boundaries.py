"""Package boundaries: the LLM layer is domain core (no Dagster) and cheap to import in parts."""

from __future__ import annotations

import subprocess
import sys

from pipelines.paths import PROJECT_ROOT


def _modules_after(stmt: str) -> set[str]:
    code = f"import sys; {stmt}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_llm_layer_never_imports_dagster() -> None:
    mods = _modules_after("import pipelines.llm as m; [getattr(m, n) for n in m.__all__]")
    assert "pipelines.llm.runner" in mods
    assert not any(m == "dagster" or m.startswith("dagster.") for m in mods)


def test_store_and_lexical_do_not_load_the_sdks() -> None:
    mods = _modules_after("import pipelines.llm.store, pipelines.llm.lexical, pipelines.llm.standins")
    assert "openai" not in mods and "anthropic" not in mods
