"""`xpertbench refresh`: materialise what is stale or missing, in dependency order, until nothing is.

Staleness comes from Dagster itself, through its GraphQL API executed in-process (the CLI cannot
select stale assets). Dagster reports staleness one layer at a time (a child turns stale only
after its parent is re-materialised with a new data version), so this loops: observe the raw
folder, query, run the earliest stale layer, query again.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster_graphql.cli import execute_query

from pipelines.cli.orchestrate import materialize

QUERY = """
query Staleness {
  assetNodes {
    assetKey { path }
    isPartitioned
    isObservable
    opVersion
    staleStatus
    partitionKeys
    staleCausesByPartition: staleCauses { key { path } partitionKey category reason }
  }
}
"""
PARTITION_QUERY = """
query PartitionStaleness($path: [String!]!, $partitions: [String!]!) {
  assetNodes(assetKeys: [{path: $path}]) {
    assetKey { path }
    staleStatusByPartition(partitions: $partitions)
  }
}
"""


@dataclass(frozen=True)
class StaleItem:
    asset: str
    partition: str | None
    status: str  # STALE | MISSING


def _context(instance: dg.DagsterInstance) -> WorkspaceProcessContext:
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="pipelines.definitions", attribute="defs"), location_name="xpertbench")
    return WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin), version="", read_only=True)


def _query(ctx: WorkspaceProcessContext, query: str, variables: dict | None = None) -> dict:
    result = execute_query(ctx, query, variables)
    if result.get("errors"):
        raise RuntimeError(f"staleness query failed: {result['errors'][0].get('message')}")
    return result["data"]


def stale_items(instance: dg.DagsterInstance) -> list[StaleItem]:
    """Every (asset, partition) Dagster reports as STALE or MISSING, source assets excluded."""
    out = []
    with _context(instance) as ctx:
        for node in _query(ctx, QUERY)["assetNodes"]:
            name = "/".join(node["assetKey"]["path"])
            if node["isObservable"]:
                continue
            if node["isPartitioned"]:
                parts = node["partitionKeys"]
                data = _query(ctx, PARTITION_QUERY, {"path": node["assetKey"]["path"], "partitions": parts})
                statuses = data["assetNodes"][0]["staleStatusByPartition"]
                out += [StaleItem(name, p, s) for p, s in zip(parts, statuses) if s in ("STALE", "MISSING")]
            elif node["staleStatus"] in ("STALE", "MISSING"):
                out.append(StaleItem(name, None, node["staleStatus"]))
    return out


def _layers(defs: dg.Definitions) -> list[list[str]]:
    """Asset keys grouped by depth in the graph (graphlib), so parents always run before children."""
    graph = defs.resolve_asset_graph()
    ts = graphlib.TopologicalSorter({k: graph.get(k).parent_keys for k in graph.get_all_asset_keys()})
    ts.prepare()
    layers = []
    while ts.is_active():
        ready = ts.get_ready()
        layers.append(sorted(k.to_user_string() for k in ready))
        ts.done(*ready)
    return layers


def _siblings(defs: dg.Definitions) -> dict[str, set[str]]:
    """Asset name -> all outputs of the (multi-)asset that produces it."""
    out: dict[str, set[str]] = {}
    for a in defs.assets:
        names = {k.to_user_string() for k in getattr(a, "keys", [])}
        for n in names:
            out[n] = names
    return out


def refresh(instance: dg.DagsterInstance, defs: dg.Definitions, *, dry_run: bool = False,
            max_rounds: int = 20, echo: Callable[[str], None] = print) -> bool:
    # Observe the sources first: the raw folder, and each candidate's settings in models.yaml.
    for source in ("raw_submissions", "model_configs"):
        materialize(defs, instance, [source])
    layer_of = {name: i for i, layer in enumerate(_layers(defs)) for name in layer}
    siblings = _siblings(defs)
    for _ in range(max_rounds):
        items = stale_items(instance)
        if not items:
            echo("[refresh] nothing stale or missing")
            return True
        for it in items:
            echo(f"[refresh] {it.status:7s} {it.asset}" + (f"[{it.partition}]" if it.partition else ""))
        if dry_run:
            return True
        first = min(layer_of.get(it.asset, 0) for it in items)
        batch = [it for it in items if layer_of.get(it.asset, 0) == first]
        # Multi-output assets run as a whole (all their outputs), one run per partition key.
        by_partition: dict[str | None, set[str]] = {}
        for it in batch:
            by_partition.setdefault(it.partition, set()).update(siblings.get(it.asset, {it.asset}))
        for pk, assets in sorted(by_partition.items(), key=lambda kv: kv[0] or ""):
            echo(f"[refresh] materialising {', '.join(sorted(assets))}" + (f" [{pk}]" if pk else ""))
            result = materialize(defs, instance, sorted(assets), partition_key=pk)
            if not result.success:
                echo(f"[refresh] run {result.run_id} failed; stopping")
                return False
    echo(f"[refresh] still stale after {max_rounds} rounds; stopping")
    return False
