"""``python -m pipelines.llm standin [--port N] [--latency-s S]``: run the stand-in server alone.

Prints its base URL on the first line of stdout, then serves until interrupted. Point a
provider at it with ``kind: standin`` + ``base_url: <printed url>/v1`` (openai protocol) or
``base_url: <printed url>`` (anthropic protocol); the runner then forwards oracle entries to it.
"""

from __future__ import annotations

import sys

from pipelines.llm.standin_server import main as standin_main


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "standin":
        raise SystemExit("usage: python -m pipelines.llm standin [--port N] [--latency-s S]")
    standin_main(args[1:])


if __name__ == "__main__":
    main()
