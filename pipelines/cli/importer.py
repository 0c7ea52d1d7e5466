"""`xpertbench import healthbench|sheet`: wire the importers (pipelines/importers) to the command line.

Files land under the raw folder (`--raw-dir`, `$XPERTBENCH_RAW_DIR`, default raw_submissions/), one JSON
file per submission; the next `run` or `refresh` picks them up. Exit 0 when every record was imported,
1 when some records had errors (each printed with its line, or sheet, row and column; the others were
written), 2 for a usage problem.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.importers.common import ImportResult, is_identifier


def _report(r: ImportResult) -> None:
    for e in r.errors:
        print(f"{r.source.name}: {e}", file=sys.stderr)
    print(r.summary())


def cmd_import(args: argparse.Namespace, s) -> int:
    name = args.name or ("sheets" if args.format == "sheet" else None)
    if not name or not is_identifier(name):
        print(f"xpertbench: --name must be a folder name of letters, digits, . _ : - (got {name!r})", file=sys.stderr)
        return 2
    if args.format == "healthbench" and not args.files and not args.meta_eval:
        print("xpertbench: give a HealthBench FILE.jsonl, --meta-eval FILE.jsonl, or both", file=sys.stderr)
        return 2
    files = [Path(f) for f in args.files] + ([Path(args.meta_eval)] if getattr(args, "meta_eval", None) else [])
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"xpertbench: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    out = Path(s.raw_dir) / name
    results = []
    if args.format == "healthbench":
        from pipelines.importers.healthbench import import_healthbench
        from pipelines.importers.healthbench_meta import import_meta_eval

        results += [import_healthbench(Path(f), out, name=name, language=args.language) for f in args.files]
        if args.meta_eval:
            results.append(import_meta_eval(Path(args.meta_eval), out, name=name, language=args.language))
    else:
        from pipelines.importers.sheet import import_sheet

        bad = [f for f in args.files if Path(f).suffix.lower() not in (".xlsx", ".csv")]
        if bad:
            print(f"xpertbench: a sheet is .xlsx or .csv: {', '.join(bad)}", file=sys.stderr)
            return 2
        results += [import_sheet(Path(f), out) for f in args.files]
    for r in results:
        _report(r)
    return 0 if all(r.ok for r in results) else 1


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("import", help="convert a HealthBench JSONL file or a rubric spreadsheet into submission files")
    fmt = p.add_subparsers(dest="format", required=True)
    hb = fmt.add_parser("healthbench", parents=[common],
                        help="HealthBench JSONL (openai/simple-evals format) into RAW_DIR/NAME/")
    hb.add_argument("files", nargs="*", metavar="FILE.jsonl", help="HealthBench examples")
    hb.add_argument("--name", required=True, help="folder under the raw folder, and the benchmark source id")
    hb.add_argument("--meta-eval", metavar="FILE.jsonl",
                    help="HealthBench meta-evaluation labels, into RAW_DIR/NAME/meta_eval/ (judge agreement)")
    hb.add_argument("--language", default="en",
                    help="language code written on every task (default en: HealthBench's rubrics are English)")
    hb.set_defaults(func=cmd_import, preflight=False)
    sh = fmt.add_parser("sheet", parents=[common],
                        help="one task per .xlsx or .csv file (raw_submissions/templates/) into RAW_DIR/NAME/")
    sh.add_argument("files", nargs="+", metavar="FILE.xlsx|FILE.csv")
    sh.add_argument("--name", default="sheets", help="folder under the raw folder (default sheets)")
    sh.set_defaults(func=cmd_import, preflight=False)
