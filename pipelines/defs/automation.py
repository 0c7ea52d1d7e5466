"""What the daemon does by itself under `make ui`: quiet, consistent, and spending nothing unless allowed.

Three sensors (README "Automation in the UI"):

* `xpertbench_observe` hashes the raw folder and each candidate's models-config entry itself and
  records an AssetObservation only when a data version changed: observing costs no run.
* `xpertbench_automation` is Dagster's declarative automation for curation and the model partitions
  (pipelines/defs/common.py AUTO: eager, which never requests an asset partition that is in progress
  or whose parent is, so at most one automation run per asset partition is queued).
* `xpertbench_report` requests the final stage (anchor judgements, agreement, aggregates, report) as
  one run, only when every asset partition it reads, transitively, is materialised, not in progress,
  at its current code version, and computed from the current data versions of its parents: so no
  report mixes a new rubric with old scores. It reads Dagster's own provenance (each
  materialisation records its code version and its inputs' data versions) through public instance
  APIs. One request per upstream state: a failed final run is not retried until something upstream
  changes.

LLM stages run under automation only as `automation.llm_stages` allows (default: when every provider
is a stand-in); otherwise they carry no automation condition and wait for a click.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dagster as dg

from pipelines.core.intake import folder_fingerprint
from pipelines.defs.jobs import JOB_NAME as WHOLE_BENCHMARK
from pipelines.llm.config import ConfigError, load_models_config
from pipelines.llm.store import model_fingerprint
from pipelines.settings import Settings

LLM_STAGES = ("generations", "judgements", "anchor_judgements")
SOURCES = ("raw_submissions", "model_configs")
# Curation and the sources; with every model-partitioned asset, they are what the final stage (run
# together after all partitions, as orchestrate.final_stage) is not.
CURATION = {"submissions", "submission_quarantine", "tasks", "curation_log", "rubrics", "rubric_findings",
            "gold_tasks", *SOURCES}
KIND_TAG = "xpertbench/kind"
DATA_VERSION_TAG = "dagster/data_version"  # Dagster's provenance tags on materialisations and observations
CODE_VERSION_TAG = "dagster/code_version"
INPUT_VERSION_PREFIX = "dagster/input_data_version/"
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def llm_automation_allowed(s: Settings) -> bool:
    """Whether automation may launch LLM stages: config `automation.llm_stages`, by default only when
    every provider the candidates and the judge use is a stand-in (nothing to pay)."""
    mode = s.pipeline.automation.llm_stages
    if mode != "standins_only":
        return mode == "on"
    used = [*s.models.candidates, s.models.judge]
    return all(s.models.provider_of(m).kind == "standin" for m in used)


@dataclass(frozen=True)
class Node:
    key: dg.AssetKey
    partitioned: bool
    code_version: str | None
    parents: tuple[dg.AssetKey, ...]
    observable: bool = False


def graph_of(assets: Iterable) -> dict[dg.AssetKey, Node]:
    """The asset graph from the definitions' public specs (observable sources have no spec)."""
    out = {}
    for a in assets:
        if isinstance(a, dg.SourceAsset):
            out[a.key] = Node(a.key, a.partitions_def is not None, None, (), observable=True)
            continue
        for spec in a.specs:
            out[spec.key] = Node(spec.key, spec.partitions_def is not None, spec.code_version,
                                 tuple(d.asset_key for d in spec.deps))
    return out


def ancestors(graph: dict[dg.AssetKey, Node], keys: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
    seen: set[dg.AssetKey] = set()
    todo = [p for k in keys for p in graph[k].parents]
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo += graph[k].parents
    return seen


class Lineage:
    """Latest materialisations, observations and active runs, read once per sensor evaluation."""

    def __init__(self, instance: dg.DagsterInstance, graph: dict[dg.AssetKey, Node]) -> None:
        self.instance, self.graph = instance, graph
        self._latest: dict[tuple[dg.AssetKey, str | None], dg.EventLogRecord | None] = {}
        self.active_runs = instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE))

    def latest(self, key: dg.AssetKey, partition: str | None) -> dg.EventLogRecord | None:
        if (key, partition) not in self._latest:
            flt = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None)
            fetch = self.instance.fetch_observations if self.graph[key].observable else \
                self.instance.fetch_materializations
            records = fetch(flt, limit=1).records
            self._latest[(key, partition)] = records[0] if records else None
        return self._latest[(key, partition)]

    def tags(self, key: dg.AssetKey, partition: str | None) -> dict[str, str] | None:
        rec = self.latest(key, partition)
        if rec is None:
            return None
        event = rec.asset_observation if self.graph[key].observable else rec.asset_materialization
        return dict(event.tags or {}) if event is not None else {}

    def version(self, key: dg.AssetKey, partition: str | None) -> str | None:
        return (self.tags(key, partition) or {}).get(DATA_VERSION_TAG)

    def input_current(self, tags: dict[str, str], storage_id: int, parent: dg.AssetKey, partition: str | None) -> bool:
        """Whether a materialisation (its tags and storage id) read the parent's current data version."""
        node = self.graph[parent]
        if not node.partitioned:
            return tags.get(INPUT_VERSION_PREFIX + parent.to_user_string()) == self.version(parent, None)
        if node.observable:
            # Dagster records no per-partition version for an observed partition: compare the data
            # version observed when the child was built with the latest one (a re-observation of the
            # same version, as `xpertbench refresh` makes, changes nothing).
            flt = dg.AssetRecordsFilter(asset_key=parent, asset_partitions=[partition], before_storage_id=storage_id)
            then = self.instance.fetch_observations(flt, limit=1).records
            observed = (then[0].asset_observation.tags or {}).get(DATA_VERSION_TAG) if then else None
            return observed is not None and observed == self.version(parent, partition)
        # A partitioned input is recorded as the sha256 of its partitions' data versions (one here).
        current = self.version(parent, partition)
        expected = hashlib.sha256((current or "").encode()).hexdigest()
        return current is not None and tags.get(INPUT_VERSION_PREFIX + parent.to_user_string()) == expected

    def in_progress(self, key: dg.AssetKey, partition: str | None) -> bool:
        for run in self.active_runs:
            if run.job_name == WHOLE_BENCHMARK:
                return True  # it will materialise everything
            pk = run.tags.get("dagster/partition")
            if run.asset_selection and key in run.asset_selection and (pk is None or partition is None or pk == partition):
                return True
        return False


def problems(lineage: Lineage, keys: Iterable[dg.AssetKey], partitions: Sequence[str]) -> list[str]:
    """Why these asset partitions are not all up to date with the same upstream versions ([] = they are)."""
    graph, out = lineage.graph, []
    for key in sorted(keys, key=lambda k: k.to_user_string()):
        node = graph[key]
        if node.observable:
            continue  # a source's latest observation is its current version
        for p in (partitions if node.partitioned else [None]):
            name = key.to_user_string() + (f"[{p}]" if p else "")
            tags = lineage.tags(key, p)
            if lineage.in_progress(key, p):
                out.append(f"{name} is in progress")
            elif tags is None:
                out.append(f"{name} is missing")
            elif node.code_version and tags.get(CODE_VERSION_TAG) != node.code_version:
                out.append(f"{name} has an old code version")
            else:
                rec = lineage.latest(key, p)
                out += [f"{name} was computed from another version of {parent.to_user_string()}"
                        for parent in node.parents if not lineage.input_current(tags, rec.storage_id, parent, p)]
    return out


def observe_sensor(s: Settings, graph: dict[dg.AssetKey, Node], status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    raw, models_cfg = dg.AssetKey("raw_submissions"), dg.AssetKey("model_configs")

    @dg.sensor(name="xpertbench_observe", minimum_interval_seconds=s.pipeline.automation.interval_s,
               default_status=status,
               description="Hashes raw_submissions/ and each candidate's models-config entry and records an "
               "observation (no run) only when one changed; the other sensors react to new data versions.")
    def xpertbench_observe(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        current: dict[tuple[dg.AssetKey, str | None], str] = {(raw, None): folder_fingerprint(s.raw_dir)}
        try:  # read the file now: the code server loaded the definitions once
            models = load_models_config(s.models_path)
            current |= {(models_cfg, m): model_fingerprint(models, m) for m in s.candidates if m in models.models}
        except ConfigError as e:
            context.log.warning(f"models config not observed: {e}")
        lineage = Lineage(context.instance, graph)
        events = [dg.AssetObservation(asset_key=k, partition=p, tags={DATA_VERSION_TAG: v},
                                      metadata={"observed_by": "xpertbench_observe sensor"})
                  for (k, p), v in current.items() if (lineage.tags(k, p) or {}).get(DATA_VERSION_TAG) != v]
        if not events:
            return dg.SkipReason("no source changed")
        return dg.SensorResult(asset_events=events)

    return xpertbench_observe


def report_sensor(s: Settings, graph: dict[dg.AssetKey, Node], selected: Sequence[dg.AssetKey],
                  status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    upstream = ancestors(graph, selected) - set(selected)
    partitions = s.candidates

    @dg.sensor(name="xpertbench_report", target=dg.AssetSelection.assets(*selected),
               minimum_interval_seconds=s.pipeline.automation.interval_s, default_status=status,
               description="Runs agreement, aggregates and the report together, once every model partition and "
               "everything they read is up to date with the same upstream versions (no report mixes old and "
               "new inputs); one request per upstream state.")
    def xpertbench_report(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        decision = final_stage_request(Lineage(context.instance, graph), selected, upstream, partitions, context.cursor)
        if isinstance(decision, str):
            return dg.SkipReason(decision)
        request, cursor = decision
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return xpertbench_report


def final_stage_request(lineage: Lineage, selected: Sequence[dg.AssetKey], upstream: set[dg.AssetKey],
                        partitions: Sequence[str], cursor: str | None) -> tuple[dg.RunRequest, str] | str:
    """(run request, new cursor) for the final stage, or the reason for not requesting one."""
    if any(r.job_name == WHOLE_BENCHMARK for r in lineage.active_runs):
        return "whole_benchmark is running"
    busy = [k.to_user_string() for k in selected if lineage.in_progress(k, None)]
    if busy:
        return f"in progress: {', '.join(busy)}"
    why = problems(lineage, upstream, partitions)
    if why:
        return f"waiting for {len(why)} upstream item(s): " + "; ".join(why[:4])
    newest = max((r.storage_id for k in upstream if not lineage.graph[k].observable
                  for p in (partitions if lineage.graph[k].partitioned else [None])
                  if (r := lineage.latest(k, p)) is not None), default=0)
    outdated = []
    for k in selected:
        rec, node = lineage.latest(k, None), lineage.graph[k]
        tags = lineage.tags(k, None) or {}
        if rec is None or rec.storage_id < newest or (node.code_version and tags.get(CODE_VERSION_TAG) != node.code_version):
            outdated.append(k)
    if not outdated:
        return "up to date"
    versions = ",".join(sorted(f"{k.to_user_string()}={lineage.graph[k].code_version}" for k in selected))
    state = f"{newest}:{hashlib.sha256(versions.encode()).hexdigest()[:12]}"
    if cursor == state:
        return "already requested for this upstream state"
    return dg.RunRequest(asset_selection=list(selected), tags={KIND_TAG: "final"}), state


def automation_sensors(s: Settings, assets: list) -> tuple[list, list[dg.SensorDefinition]]:
    """(assets with automation conditions only where a sensor may act on them, the sensors)."""
    llm_ok = llm_automation_allowed(s)
    graph = graph_of(assets)
    allowed = [k for k in graph if llm_ok or k.to_user_string() not in LLM_STAGES]
    final = [k for k in allowed if k.to_user_string() not in CURATION and not graph[k].partitioned]
    declarative = [k for k in allowed if not graph[k].observable
                   and (k.to_user_string() in CURATION or graph[k].partitioned)]

    def strip(spec: dg.AssetSpec) -> dg.AssetSpec:
        # An untargeted condition would get Dagster's default automation sensor: remove it instead.
        return spec if spec.key in declarative else spec.replace_attributes(automation_condition=None)

    assets = [a if isinstance(a, dg.SourceAsset) else dg.map_asset_specs(strip, [a])[0] for a in assets]
    status = dg.DefaultSensorStatus.RUNNING if s.pipeline.automation.default_status == "running" \
        else dg.DefaultSensorStatus.STOPPED
    declarative_sensor = dg.AutomationConditionSensorDefinition(
        "xpertbench_automation", target=dg.AssetSelection.assets(*declarative), default_status=status,
        minimum_interval_seconds=s.pipeline.automation.interval_s,
        description="Re-materialises curation and the model partitions when a parent has a new data version or "
        "a code version changed (never an asset that is in progress); LLM stages only as automation.llm_stages "
        f"allows ({'included' if llm_ok else 'excluded'} here).",
    )
    return assets, [observe_sensor(s, graph, status), declarative_sensor, report_sensor(s, graph, final, status)]
