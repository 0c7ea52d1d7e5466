"""`xpertbench` command line: run the pipeline, refresh what is stale, trace a score, estimate cost."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from pipelines.paths import PROJECT_ROOT


def _quiet_dagster() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        import dagster as dg

        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    except AttributeError:
        pass


def _instance():
    import dagster as dg

    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.orchestrate import run_all
    from pipelines.summary import print_summary

    _quiet_dagster()
    with _instance() as instance:
        ok = run_all(instance, models=args.model or None)
    print_summary(Path(os.environ.get("XPERTBENCH_ASSETS_DIR", PROJECT_ROOT / "assets")))
    return 0 if ok else 1


def cmd_refresh(args: argparse.Namespace) -> int:
    from pipelines.refresh import refresh

    _quiet_dagster()
    with _instance() as instance:
        return 0 if refresh(instance, dry_run=args.dry_run) else 1


def cmd_trace(args: argparse.Namespace) -> int:
    from pipelines.trace import print_trace

    _quiet_dagster()
    with _instance() as instance:
        return print_trace(instance, args.task_id, args.model)


def cmd_estimate(args: argparse.Namespace) -> int:
    from pipelines.estimate import print_estimate

    return print_estimate(args.model or None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="xpertbench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="materialise every asset (all candidate models) and print a summary")
    r.add_argument("--model", action="append", help="only these candidate partitions (repeatable)")
    r.set_defaults(func=cmd_run)
    f = sub.add_parser("refresh", help="materialise stale and missing assets/partitions until none remain")
    f.add_argument("--dry-run", action="store_true", help="only list what is stale or missing")
    f.set_defaults(func=cmd_refresh)
    t = sub.add_parser("trace", help="provenance of one task's score, from raw file to leaderboard")
    t.add_argument("task_id")
    t.add_argument("--model", help="candidate model (default: all)")
    t.set_defaults(func=cmd_trace)
    e = sub.add_parser("estimate", help="dry run: calls, tokens and cost still to pay, nothing sent")
    e.add_argument("--model", action="append")
    e.set_defaults(func=cmd_estimate)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
