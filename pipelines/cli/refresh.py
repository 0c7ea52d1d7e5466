"""`xpertbench refresh`: materialise what is stale or missing, in dependency order, until nothing is.

Dagster decides what is stale: its GraphQL API (public), served by a read-only dagster-webserver
started for this command on the same instance and settings (pipelines/cli/graphql.py). Dagster
reports staleness one layer at a time (a child turns stale only after its parent is
re-materialised with a new data version), so this loops: observe the sources, query, run the
earliest stale layer, query again. An asset whose new output has the same content hash keeps its
data version, so its children stay fresh and are never run.
"""

from __future__ import annotations

import graphlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import dagster as dg

from pipelines.cli.graphql import DagsterGraphQL
from pipelines.cli.orchestrate import materialize

NODES = "{ assetNodes { assetKey { path } isPartitioned isObservable staleStatus partitionKeys } }"
BY_PARTITION = """query PartitionStaleness($path: [String!]!, $partitions: [String!]!) {
  assetNodes(assetKeys: [{path: $path}]) { staleStatusByPartition(partitions: $partitions) } }"""
SOURCES = ("raw_submissions", "model_configs")  # the raw folder, and each candidate's models.yaml entry


@dataclass(frozen=True)
class StaleItem:
    asset: str
    partition: str | None
    status: str  # STALE | MISSING


@dataclass
class RefreshResult:
    """What a refresh saw and did; true when it ended with nothing stale or missing (or was a dry run)."""

    ok: bool = False
    rounds: list[list[StaleItem]] = field(default_factory=list)  # Dagster's answer before each round
    runs: list[tuple[tuple[str, ...], str | None]] = field(default_factory=list)  # (assets, partition) run

    def __bool__(self) -> bool:
        return self.ok


def stale_items(gql: DagsterGraphQL) -> list[StaleItem]:
    """Every (asset, partition) Dagster reports as STALE or MISSING, source assets excluded."""
    out = []
    for node in gql.query(NODES)["assetNodes"]:
        name = "/".join(node["assetKey"]["path"])
        if node["isObservable"]:
            continue
        if node["isPartitioned"]:
            parts = node["partitionKeys"]
            data = gql.query(BY_PARTITION, {"path": node["assetKey"]["path"], "partitions": parts})
            statuses = data["assetNodes"][0]["staleStatusByPartition"]
            out += [StaleItem(name, p, s) for p, s in zip(parts, statuses, strict=True) if s in ("STALE", "MISSING")]
        elif node["staleStatus"] in ("STALE", "MISSING"):
            out.append(StaleItem(name, None, node["staleStatus"]))
    return out


def layers(defs: dg.Definitions) -> list[list[str]]:
    """Asset names grouped by depth in the graph (graphlib over Dagster's specs): parents first."""
    specs = defs.resolve_all_asset_specs()
    ts = graphlib.TopologicalSorter({s.key: {d.asset_key for d in s.deps} for s in specs})
    ts.prepare()
    out = []
    while ts.is_active():
        ready = ts.get_ready()
        out.append(sorted(k.to_user_string() for k in ready))
        ts.done(*ready)
    return out


def siblings(defs: dg.Definitions) -> dict[str, set[str]]:
    """Asset name -> all outputs of the (multi-)asset that produces it (they run together)."""
    out: dict[str, set[str]] = {}
    for a in defs.assets:
        names = {k.to_user_string() for k in getattr(a, "keys", [])}
        for n in names:
            out[n] = names
    return out


def webserver_env(defs: dg.Definitions, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment that gives the webserver these definitions' settings and this process's instance."""
    settings = defs.resources["xpertbench"].settings()
    return {**(os.environ if env is None else env), **settings.to_env()}


def refresh(instance: dg.DagsterInstance, defs: dg.Definitions, *, dry_run: bool = False,
            max_rounds: int = 20, echo: Callable[[str], None] = print,
            env: Mapping[str, str] | None = None) -> RefreshResult:
    """Observe the sources, then materialise stale and missing layers until none is left.

    `instance` must be the one at `DAGSTER_HOME` in `env` (default: this process's environment):
    the webserver reads staleness from it.
    """
    if instance.is_ephemeral:
        raise ValueError("refresh needs the persistent instance at DAGSTER_HOME: Dagster reads staleness from it")
    out = RefreshResult()
    with DagsterGraphQL(webserver_env(defs, env)) as gql:  # starts now; the first query waits for it
        for source in SOURCES:
            materialize(defs, instance, [source])
        layer_of = {name: i for i, layer in enumerate(layers(defs)) for name in layer}
        outputs_of = siblings(defs)
        for _ in range(max_rounds):
            items = stale_items(gql)
            out.rounds.append(items)
            if not items:
                echo("[refresh] nothing stale or missing")
                out.ok = True
                return out
            for it in items:
                echo(f"[refresh] {it.status:7s} {it.asset}" + (f"[{it.partition}]" if it.partition else ""))
            if dry_run:
                out.ok = True
                return out
            first = min(layer_of.get(it.asset, 0) for it in items)
            # Multi-output assets run as a whole (all their outputs), one run per partition key.
            by_partition: dict[str | None, set[str]] = {}
            for it in items:
                if layer_of.get(it.asset, 0) == first:
                    by_partition.setdefault(it.partition, set()).update(outputs_of.get(it.asset, {it.asset}))
            for pk, assets in sorted(by_partition.items(), key=lambda kv: kv[0] or ""):
                echo(f"[refresh] materialising {', '.join(sorted(assets))}" + (f" [{pk}]" if pk else ""))
                out.runs.append((tuple(sorted(assets)), pk))
                result = materialize(defs, instance, sorted(assets), partition_key=pk)
                if not result.success:
                    echo(f"[refresh] run {result.run_id} failed; stopping")
                    return out
        echo(f"[refresh] still stale after {max_rounds} rounds; stopping")
        return out
