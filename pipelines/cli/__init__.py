"""`xpertbench` command line: run the pipeline, refresh what is stale, trace a score, estimate cost, import.

Every command builds one `Settings` from its flags, the environment and the defaults, checks it
before any work (exit 2 with one line per problem; `--debug` for tracebacks), and exports it to the
environment so that any process Dagster starts reads the same settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path

from pipelines.paths import dagster_home


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

    os.environ["DAGSTER_HOME"] = str(dagster_home())  # DAGSTER_HOME, else XPERTBENCH_PROFILE's instance
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def _settings(args: argparse.Namespace, *, preflight: bool):
    from pipelines.cli.preflight import check
    from pipelines.settings import Settings, SettingsError

    try:
        s = Settings.load(raw_dir=args.raw_dir, assets_dir=args.assets_dir, config=args.config,
                          models=args.models, overrides=args.set or None)
    except SettingsError as e:
        if args.debug:
            traceback.print_exc()
        return None, e.problems
    problems = check(s) if preflight else []
    if not problems:
        os.environ.update(s.to_env())  # child processes (Dagster runs, the UI) see the same settings
        for note in s.notes:
            print(f"[xpertbench] note: {note}", file=sys.stderr)
        if args.command in ("run", "refresh"):  # estimate prints its own window check
            from pipelines.cli.preflight import window_warnings

            for line in window_warnings(s):
                print(f"[xpertbench] warning: context window: {line}", file=sys.stderr)
    return s, problems


def _definitions(s):
    _quiet_dagster()
    from pipelines.definitions import build_definitions

    return build_definitions(s)


@contextmanager
def _exclusive(s):
    """The assets lock, then the instance, with the runs of dead processes closed (recovery.py)."""
    from pipelines.cli import interrupts
    from pipelines.cli.lock import assets_lock
    from pipelines.cli.recovery import recover

    with assets_lock(s.assets_dir), _instance() as instance:
        interrupts.attach(instance)
        recover(instance, echo=lambda m: print(m, file=sys.stderr))
        yield instance


def cmd_run(args: argparse.Namespace, s) -> int:
    from pipelines.cli.orchestrate import run_all
    from pipelines.cli.summary import print_summary

    defs = _definitions(s)
    if s.executor == "celery":  # steps on the team's workers (README "Running as a team")
        from pipelines.cli.distributed import run_all_distributed as run_all
    with _exclusive(s) as instance:
        ok = run_all(instance, defs, models=args.model or None)
    print_summary(s.assets_base, standin=s.models.uses_standin())
    return 0 if ok else 1


def cmd_refresh(args: argparse.Namespace, s) -> int:
    from pipelines.cli.refresh import refresh

    defs = _definitions(s)
    with _exclusive(s) as instance:
        return 0 if refresh(instance, defs, dry_run=args.dry_run) else 1


def cmd_trace(args: argparse.Namespace, s) -> int:
    from pipelines.cli.trace import print_trace

    _quiet_dagster()
    with _instance() as instance:
        return print_trace(instance, args.task_id, args.model, settings=s)


def cmd_estimate(args: argparse.Namespace, s) -> int:
    from pipelines.cli.estimate import print_estimate

    return print_estimate(s, args.model or None)


def cmd_screening_scores(args: argparse.Namespace, s) -> int:
    from pipelines.cli.screening import print_export

    return print_export(s, args.model, args.out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xpertbench", description=(__doc__ or "").splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="pipeline config file (default: $XPERTBENCH_CONFIG or xpertbench.yaml)")
    common.add_argument("--models", help="models config file (default: $XPERTBENCH_MODELS or models.yaml)")
    common.add_argument("--raw-dir", help="raw submissions folder (default: $XPERTBENCH_RAW_DIR or raw_submissions/)")
    common.add_argument("--assets-dir", help="materialised assets folder (default: $XPERTBENCH_ASSETS_DIR or assets/)")
    common.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                        help="override one pipeline setting, e.g. --set judge.template_version=judge-v2 (repeatable)")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", parents=[common], help="materialise every asset (all candidate models) and print a summary")
    r.add_argument("--model", action="append", help="only these candidate partitions (repeatable)")
    r.set_defaults(func=cmd_run, preflight=True)
    f = sub.add_parser("refresh", parents=[common], help="materialise stale and missing assets/partitions until none remain")
    f.add_argument("--dry-run", action="store_true", help="only list what is stale or missing")
    f.set_defaults(func=cmd_refresh, preflight=True)
    t = sub.add_parser("trace", parents=[common], help="provenance of one task's score, from raw file to leaderboard")
    t.add_argument("task_id")
    t.add_argument("--model", help="candidate model (default: all)")
    t.set_defaults(func=cmd_trace, preflight=False)
    e = sub.add_parser("estimate", parents=[common], help="dry run: calls, tokens and cost still to pay, nothing sent")
    e.add_argument("--model", action="append")
    e.set_defaults(func=cmd_estimate, preflight=True)
    x = sub.add_parser("screening-scores", parents=[common],
                       help="export a candidate's task scores as the difficulty screen's input (screening_scores.csv)")
    x.add_argument("--model", required=True, help="the candidate (screening model) whose scores to export")
    x.add_argument("--out", help="file to write (default: the raw folder's curation.screening_scores_file)")
    x.set_defaults(func=cmd_screening_scores, preflight=False)
    from pipelines.cli.importer import add_parser as add_import

    add_import(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in ("run", "refresh"):
        from pipelines.cli import interrupts

        # The first Ctrl-C/SIGTERM cancels cleanly, the second exits at once (interrupts.py).
        if not interrupts.is_worker():
            return interrupts.supervise(sys.argv[1:] if argv is None else list(argv))
        interrupts.install_worker()
        interrupts.exit_worker(_main(args))
    return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        s, problems = _settings(args, preflight=args.preflight)
        if problems:
            for prob in problems:
                print(f"xpertbench: {prob}", file=sys.stderr)
            return 2
        return args.func(args, s)
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        if args.command in ("run", "refresh"):
            print("xpertbench: interrupted: the run in progress was canceled and no later run started; "
                  "finished LLM calls are kept in the call store, so `xpertbench run` (or `refresh`) "
                  "resumes from there", file=sys.stderr)
        else:
            print("xpertbench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line unless --debug
        if args.debug:
            traceback.print_exc()
        else:
            print(f"xpertbench: {type(exc).__name__}: {exc} (run again with --debug for the traceback)",
                  file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
