"""The paper's domains, categories and rubric dimensions, read from validation/taxonomy.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from pipelines.paths import VALIDATION_DIR


@dataclass(frozen=True)
class Taxonomy:
    categories: dict[str, tuple[str, ...]]  # domain -> categories
    dimensions: tuple[str, ...]

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(self.categories)


@lru_cache(maxsize=4)
def load_taxonomy(path: Path = VALIDATION_DIR / "taxonomy.yaml") -> Taxonomy:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Taxonomy(
        categories={d: tuple(cats) for d, cats in raw["domains"].items()},
        dimensions=tuple(raw["dimensions"]),
    )

