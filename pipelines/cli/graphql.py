"""Dagster's GraphQL API as a client: a read-only `dagster-webserver` on loopback for one command.

Staleness ("is this asset or partition out of date?") is computed by Dagster and published only
through its GraphQL API (the CLI cannot select stale assets, and the resolver behind it is
private). `DagsterGraphQL` starts the webserver that serves that API for the same code location
(`pipelines.definitions:defs`, whose settings come from the environment this process exports) and
the same instance (`DAGSTER_HOME`), answers queries over HTTP, and stops it, children included.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.paths import PROJECT_ROOT

LOCATION = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message causes { message } } } } } } }"""


class GraphQLError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DagsterGraphQL:
    """`with DagsterGraphQL(env) as gql: gql.query("{ assetNodes { ... } }")`."""

    def __init__(self, env: Mapping[str, str], *, start_timeout_s: float = 300.0) -> None:
        if not env.get("DAGSTER_HOME"):
            raise GraphQLError("DAGSTER_HOME is not set: the webserver must read the same instance")
        self._env = dict(env)
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._log = tempfile.NamedTemporaryFile(prefix="xb-webserver-", suffix=".log", delete=False)  # noqa: SIM115
        self.url = ""

    def __enter__(self) -> DagsterGraphQL:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> DagsterGraphQL:
        """Start the webserver (returns at once; the first query waits until the code location is loaded)."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "pipelines.cli.run_with_default_signals", sys.executable, "-m",
               "dagster_webserver", "-h", "127.0.0.1", "-p", str(port), "--read-only",
               "-m", "pipelines.definitions", "-a", "defs", "--dagster-log-level", "warning",
               "--code-server-log-level", "warning"]
        # Own session: stopping the group also stops the code server the webserver starts.
        self._proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=self._env, stdin=subprocess.DEVNULL,
                                      stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout_s
        while not location_loaded(self.url):
            if self._proc is None or self._proc.poll() is not None:
                raise GraphQLError(f"dagster-webserver exited before serving: {self._log_tail()}")
            if time.monotonic() > deadline:
                raise GraphQLError(f"dagster-webserver not ready after {self._start_timeout_s:g} s: {self._log_tail()}")
            time.sleep(0.25)

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a GraphQL query; raises GraphQLError on a GraphQL error."""
        if not self._ready:
            self.wait_ready()
            self._ready = True
        return post_query(self.url, document, variables)

    def close(self) -> None:
        """Stop the webserver and the code server it started; idempotent.

        SIGKILL to the whole group: a read-only webserver has nothing to flush, and a graceful
        shutdown (uvicorn, then the code server) takes seconds.
        """
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_group(proc, grace_s=None)
        if not self._log.closed:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)

    def _log_tail(self) -> str:
        self._log.flush()
        text = Path(self._log.name).read_text(encoding="utf-8", errors="replace")
        return text[-2000:].strip() or "(no output)"


def post_query(url: str, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `data` of a GraphQL query to the webserver at url; raises GraphQLError on a GraphQL error."""
    body = json.dumps({"query": document, "variables": dict(variables or {})}).encode()
    req = urllib.request.Request(url + "/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310 - loopback URL we started
        result = json.loads(resp.read())
    if result.get("errors"):
        raise GraphQLError(f"GraphQL query failed: {result['errors'][0].get('message')}")
    return result["data"]


def location_loaded(url: str) -> bool:
    """True once every code location is loaded; False while the server is not serving yet.

    Raises GraphQLError when a code location failed to load (it will not recover by waiting).
    """
    try:
        entries = post_query(url, LOCATION)["workspaceOrError"]["locationEntries"]
    except (OSError, ValueError, KeyError, TypeError):
        return False  # not serving yet
    if not entries or any(e["loadStatus"] != "LOADED" for e in entries):
        return False
    errors = [e["locationOrLoadError"] for e in entries
              if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"]
    if errors:
        why = [errors[0]["message"], *(c["message"] for c in errors[0].get("causes") or [])]
        raise GraphQLError("the code location failed to load: " + " <- ".join(w.strip() for w in why))
    return True


def signal_group(pgid: int, sig: int) -> bool:
    """Send sig to the process group; False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def stop_group(proc: subprocess.Popen[bytes], *, grace_s: float | None) -> None:
    """Stop proc, the leader of its own process group, and every process of that group.

    With grace_s: SIGINT to the group and up to grace_s for the leader to shut its children down
    (dagster dev stops its webserver, daemon and code servers). Then, in any case, SIGKILL to the
    group until none of it is left (run workers or code servers that outlived the leader).
    """
    try:
        if grace_s is not None:
            signal_group(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
    finally:
        signal_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        for _ in range(200):  # until no process of the group is left
            if not signal_group(proc.pid, signal.SIGKILL):
                break
            time.sleep(0.05)
