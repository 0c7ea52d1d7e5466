from collections import Counter

from pipelines.config import GoldConfig
from pipelines.core.gold import allocate, select_gold

DOMAINS = {"A": 40, "B": 20, "C": 6, "D": 2}


def tasks(extra: int = 0) -> list[tuple[str, str]]:
    out = [(f"{d}-{i:03d}", d) for d, n in DOMAINS.items() for i in range(n)]
    out += [(f"A-new-{i}", "A") for i in range(extra)]
    return out


def test_allocation_is_proportional_with_floor_and_capped():
    alloc = allocate(DOMAINS, 20, 3)
    assert sum(alloc.values()) == 20
    assert alloc["D"] == 2  # floor capped by availability
    assert alloc["C"] >= 3
    assert alloc["A"] > alloc["B"] > alloc["C"]


def test_paper_proportions():
    paper = {"Finance": 244, "Law": 215, "Education": 329, "EAS": 275, "HSS": 116, "CS": 92, "HC": 75}
    alloc = allocate(paper, 245, 3)
    assert sum(alloc.values()) == 245
    assert alloc == {"Finance": 44, "Law": 39, "Education": 60, "EAS": 50, "HSS": 21, "CS": 17, "HC": 14}


def test_share_and_count_sizes():
    assert len(select_gold(tasks(), GoldConfig(share=0.5))) == 34
    assert len(select_gold(tasks(), GoldConfig(size=10, min_per_domain=1))) == 10


def test_deterministic_and_seeded():
    a = select_gold(tasks(), GoldConfig())
    assert a == select_gold(list(reversed(tasks())), GoldConfig())
    assert {p.task_id for p in a} != {p.task_id for p in select_gold(tasks(), GoldConfig(seed="other"))}


def test_adding_tasks_does_not_reshuffle_gold():
    cfg = GoldConfig(size=20, min_per_domain=2)
    before = {p.task_id for p in select_gold(tasks(), cfg)}
    after = {p.task_id for p in select_gold(tasks(extra=5), cfg)}
    # Other domains are untouched, and domain A changes by at most the new tasks that rank in.
    assert {t for t in before if not t.startswith("A")} == {t for t in after if not t.startswith("A")}
    new_in = {t for t in after if "new" in t}
    assert len(before - after) <= len(new_in)
    assert after - before == new_in


def test_growing_quota_only_adds():
    before = {p.task_id for p in select_gold(tasks(), GoldConfig(size=20))}
    after = {p.task_id for p in select_gold(tasks(), GoldConfig(size=24))}
    assert before < after


def test_domain_counts_reported():
    picks = select_gold(tasks(), GoldConfig(share=0.25, min_per_domain=2))
    c = Counter(p.domain for p in picks)
    assert all(p.quota == c[p.domain] for p in picks)
    assert c["D"] == 2
