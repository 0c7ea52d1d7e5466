"""Gold subset: stratified by domain, proportional with a floor, deterministic and stable.

Within a domain tasks are ranked by a keyed hash of their id, so a task's rank never depends on
which other tasks exist. Adding tasks therefore never reshuffles Gold: a task already in Gold
leaves only if a new task ranks above it *and* the domain's quota did not grow to make room.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipelines.config import GoldConfig


@dataclass(frozen=True)
class GoldPick:
    task_id: str
    domain: str
    rank_in_domain: int
    sample_key: str
    quota: int
    eligible_in_domain: int


def sample_key(seed: str, task_id: str) -> str:
    return hashlib.sha256(f"{seed}\0{task_id}".encode()).hexdigest()


def allocate(counts: Mapping[str, int], total: int, floor: int) -> dict[str, int]:
    """Largest-remainder proportional allocation with a per-domain floor, capped by availability."""
    total = min(total, sum(counts.values()))
    alloc = {d: min(n, floor) for d, n in counts.items()}
    remaining = total - sum(alloc.values())
    if remaining <= 0:
        return alloc
    # Distribute what is left in proportion to each domain's size, above its floor.
    grand = sum(counts.values())
    ideal = {d: total * n / grand for d, n in counts.items()}
    while remaining > 0:
        open_domains = [d for d in counts if alloc[d] < counts[d]]
        if not open_domains:
            break
        # Domain furthest below its proportional share gets the next slot; ties by name.
        d = max(open_domains, key=lambda x: (ideal[x] - alloc[x], -alloc[x], x))
        alloc[d] += 1
        remaining -= 1
    return alloc


def select_gold(tasks: Sequence[tuple[str, str]], cfg: GoldConfig) -> list[GoldPick]:
    """tasks: (task_id, domain) pairs of eligible tasks. Returns the Gold picks, by domain then rank."""
    by_domain: dict[str, list[str]] = {}
    for tid, dom in tasks:
        by_domain.setdefault(dom, []).append(tid)
    n = len(tasks)
    target = cfg.size if cfg.size is not None else math.ceil(cfg.share * n)
    quotas = allocate({d: len(v) for d, v in by_domain.items()}, target, cfg.min_per_domain)
    picks = []
    for dom in sorted(by_domain):
        ranked = sorted(by_domain[dom], key=lambda t: sample_key(cfg.seed, t))
        for i, tid in enumerate(ranked[: quotas[dom]]):
            picks.append(GoldPick(tid, dom, i + 1, sample_key(cfg.seed, tid)[:16], quotas[dom], len(ranked)))
    return picks
