"""Package boundaries read from the source: public Dagster APIs only, a core independent of the stand-ins."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pipelines.paths import PROJECT_ROOT

PRIVATE_DAGSTER = re.compile(r"^dagster(_[a-z]+)?\._")  # dagster._core, dagster_graphql._..., ...
STANDIN = ("pipelines.llm.standins", "pipelines.llm.lexical", "pipelines.llm.standin_server",
           "pipelines.llm.standin_wire")


def imported_modules(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and PRIVATE_DAGSTER.match(node.value):
            out.append(node.value)  # importlib.import_module("dagster._core...") and the like
    return out


def sources(folder: str) -> list[Path]:
    files = sorted((PROJECT_ROOT / folder).rglob("*.py"))
    assert files
    return files


def test_no_private_dagster_module_anywhere_in_pipelines() -> None:
    hits = [f"{p.relative_to(PROJECT_ROOT)}: {m}" for p in sources("pipelines") for m in imported_modules(p)
            if PRIVATE_DAGSTER.match(m)]
    assert hits == []


def test_the_core_does_not_use_the_stand_in_provider() -> None:
    hits = [f"{p.relative_to(PROJECT_ROOT)}: {m}" for p in sources("pipelines/core") for m in imported_modules(p)
            if m.startswith(STANDIN)]
    assert hits == []


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(PROJECT_ROOT)): n for p in sources("pipelines")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}
