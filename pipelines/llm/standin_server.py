"""Built-in stand-in provider: a stdlib HTTP server speaking the OpenAI and Anthropic wire shapes.

The pipeline points the *real* ``openai``/``anthropic`` SDK clients at it, so offline runs and
tests exercise the same HTTP, retry and timeout code as production. It binds 127.0.0.1 only.

Routes
  POST  .../chat/completions   OpenAI chat completion (also Gemini-style ``/v1beta/openai/``)
  POST  .../v1/messages        Anthropic message
  POST  /_oracle   {"entries": {sha256(prompt): reference}}   add oracle answers
  POST  /_script   {"faults": [fault, ...]}   one fault consumed per model request (default ok)
  POST  /_reset    clear request log and fault script (oracle entries stay)
  GET   /_log      {"requests": [{path, protocol, model, retry_count, headers, params, fault, prefill, t}, ...]}
                   (headers without credentials; params = body without the prompt, plus its sha256)

Fault keys (combinable where it makes sense): ``status`` (+ ``retry_after``, ``retry_after_ms``,
``should_retry``, ``message``), ``delay_s`` / ``hang_s`` (sleep, then continue), ``drop`` (close without a
response), ``truncate`` (200, body cut, content-length of the cut body), ``malformed_json``,
``content`` (200 with exactly this model text), ``finish_reason`` (e.g. "length"),
``trickle_s`` (200 whose body arrives in pieces over that many seconds),
``cached_tokens`` (this many cached input tokens instead of the simulated cache's figure,
llm/prompt_cache.py), ``echo_prefill`` (an Anthropic prefill included, as llama.cpp's /v1/messages does).

Structured output as the real APIs do it: an Anthropic assistant prefill is continued (the reply
omits the prefilled text), and a forced tool (``tool_choice: {"type": "tool"}``) is answered with a
``tool_use`` block whose input is the reply's JSON (a reply that is not a JSON object stays text).

Batch endpoints of both protocols (files, batches, message batches): ``standin_batches.py``.
Credentials are accepted (Bearer or x-api-key) but never logged or echoed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import socket
import threading
import time
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from pipelines.llm.prompt_cache import PromptCache
from pipelines.llm.standin_batches import BATCH_ROUTE, Batches
from pipelines.llm.standin_wire import assistant_prefill, error_body, model_reply

_SECRET_HEADERS = {"authorization", "x-api-key", "api-key", "cookie", "proxy-authorization", "x-goog-api-key"}


class _State:
    """Mutable server state shared by handler threads; every access holds the lock."""

    def __init__(self, latency_s: float) -> None:
        self.lock = threading.Lock()
        self.latency_s = latency_s
        self.oracle: dict[str, str] = {}
        self.cache = PromptCache()  # provider prompt caching, simulated (llm/prompt_cache.py)
        self.faults: deque[dict[str, Any]] = deque()
        # Bounded so a long offline run cannot grow memory without limit.
        self.log: deque[dict[str, Any]] = deque(maxlen=20_000)
        self.stopping = threading.Event()
        self.batches = Batches(self.cache)  # files and batches (pipelines/llm/standin_batches.py)

    def next_fault(self) -> dict[str, Any]:
        with self.lock:
            return self.faults.popleft() if self.faults else {}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Default backlog is 5: a burst of 64 concurrent connects would see SYN drops and 1 s retransmits.
    request_queue_size = 512
    allow_reuse_address = True
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (timeout, closed pool) is routine here, not worth a traceback.
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    # Buffer each response and send it with one write when the handler flushes (the stdlib
    # default writes headers and body separately, a second small segment per reply).
    wbufsize = 64 * 1024
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # silent: request lines are noise in test output

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, Nagle plus the client's delayed ACK adds ~40 ms to every reply.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- plumbing ------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._guard(self._get)

    def do_POST(self) -> None:
        self._guard(self._post)

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            # The client gave up (its timeout fired) before we answered; nothing to report.
            self.close_connection = True

    def _read_json(self) -> Any:
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw or b"{}")

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)  # buffered (wbufsize): headers and body leave in one write

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), headers)

    # -- admin ---------------------------------------------------------------------------
    def _batch_route(self, method: str) -> bool:
        """Files and batches of both protocols (standin_batches.py); False if the path is not one of them."""
        path = urlsplit(self.path).path
        if not BATCH_ROUTE.match(path):
            return False
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        auth = self.headers.get("authorization", "")
        if path != "/_batches" and not (auth.lower().startswith("bearer ") or self.headers.get("x-api-key")):
            self._error("anthropic" if "/messages/" in path else "openai", 401, "missing API key")
            return True
        with self.server.state.lock:
            oracle = dict(self.server.state.oracle)
        status, body, ctype = self.server.state.batches.handle(
            method, path, self.headers.get("content-type", ""), raw, oracle, f"http://{self.headers.get('host')}")
        self._send(status, body, content_type=ctype)
        return True

    def _get(self) -> None:
        if self._batch_route("GET"):
            return
        path = urlsplit(self.path).path
        state = self.server.state
        if path == "/_log":
            with state.lock:
                self._send_json(200, {"requests": list(state.log)})
        elif path in ("/", "/_health"):
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, {"error": {"message": f"no route GET {path}", "type": "not_found"}})

    def _post(self) -> None:
        if self._batch_route("POST"):
            return
        path = urlsplit(self.path).path
        state = self.server.state
        try:
            body = self._read_json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            self._error("openai" if "chat/completions" in path else "anthropic", 400, "request body is not a JSON object")
            return
        if path == "/_script":
            faults = body.get("faults", [])
            if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
                self._send_json(400, {"error": "faults must be a list of objects"})
                return
            with state.lock:
                state.faults.extend(faults)
            self._send_json(200, {"queued": len(faults)})
        elif path == "/_oracle":
            entries = body.get("entries", {})
            if not isinstance(entries, dict):
                self._send_json(400, {"error": "entries must be an object"})
                return
            with state.lock:
                state.oracle.update({str(k): str(v) for k, v in entries.items()})
                n = len(state.oracle)
            self._send_json(200, {"entries": n})
        elif path == "/_reset":
            with state.lock:
                state.log.clear()
                state.faults.clear()
            self._send_json(200, {"ok": True})
        elif path.endswith("/chat/completions"):
            self._model_call("openai", body)
        elif path.endswith("/v1/messages") or path == "/messages":
            self._model_call("anthropic", body)
        else:
            self._send_json(404, {"error": {"message": f"no route POST {path}", "type": "not_found"}})

    # -- model endpoints -----------------------------------------------------------------
    def _error(self, protocol: str, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, error_body(protocol, status, message), headers)

    def _model_call(self, protocol: str, body: dict[str, Any]) -> None:
        state = self.server.state
        auth = self.headers.get("authorization", "")
        authorized = (auth.lower().startswith("bearer ") and bool(auth[7:].strip())) or bool(self.headers.get("x-api-key"))
        # An unauthenticated request is refused before it can consume a scripted fault.
        fault = state.next_fault() if authorized else {}
        model = str(body.get("model", ""))
        # Sampling parameters as sent (prompt text replaced by its hash: the log stays small).
        params = {k: v for k, v in body.items() if k not in ("messages", "system")}
        params["prompt_sha256"] = hashlib.sha256(
            json.dumps([body.get("system"), body.get("messages")], ensure_ascii=False).encode("utf-8")
        ).hexdigest()
        with state.lock:
            state.log.append(
                {
                    "path": urlsplit(self.path).path,
                    "protocol": protocol,
                    "model": model,
                    "retry_count": self.headers.get("x-stainless-retry-count"),
                    "headers": {k.lower(): v for k, v in self.headers.items() if k.lower() not in _SECRET_HEADERS},
                    "params": params,
                    "fault": fault,
                    "prefill": assistant_prefill(body),  # an Anthropic-style prefilled assistant turn
                    "t": time.monotonic(),  # arrival, for inspection (tests count requests, never time them)
                }
            )
        if not authorized:
            self._error(protocol, 401, "missing API key (Authorization: Bearer or x-api-key)")
            return
        wait = state.latency_s + float(fault.get("delay_s", 0)) + float(fault.get("hang_s", 0))
        if wait > 0 and state.stopping.wait(wait):
            self.close_connection = True
            return
        if fault.get("drop"):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if "status" in fault and int(fault["status"]) != 200:
            self._fault_status(protocol, fault)
            return
        if fault.get("malformed_json"):
            self._send(200, b'{"id": "broken", "choices": [ {"message": oops not json')
            return

        with state.lock:
            table = dict(state.oracle)
        status, payload = model_reply(protocol, body, fault, table, state.cache)
        if status != 200:
            self._send_json(status, payload)
            return
        raw = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        if fault.get("truncate"):
            raw = raw[: len(raw) // 2]
        if fault.get("trickle_s"):
            self._trickle(raw, float(fault["trickle_s"]))
            return
        self._send(200, raw)

    def _trickle(self, raw: bytes, seconds: float) -> None:
        """Headers at once, then the body in 10 pieces spread over ``seconds`` (a slow stream)."""
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        step = max(1, len(raw) // 10)
        for i in range(0, len(raw), step):
            self.wfile.write(raw[i : i + step])
            self.wfile.flush()
            if self.server.state.stopping.wait(seconds / 10):
                return

    def _fault_status(self, protocol: str, fault: dict[str, Any]) -> None:
        status = int(fault["status"])
        headers: dict[str, str] = {}
        if "retry_after" in fault:
            headers["retry-after"] = str(fault["retry_after"])
        if "retry_after_ms" in fault:
            headers["retry-after-ms"] = str(fault["retry_after_ms"])
        if "should_retry" in fault:
            headers["x-should-retry"] = "true" if fault["should_retry"] else "false"
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Overloaded" if status == 529 else "Error"
        self._error(protocol, status, str(fault.get("message", f"stand-in fault: {status} {phrase}")), headers)


class StandinServer:
    """The stand-in provider on 127.0.0.1 (port 0 = a free port), served from a daemon thread.

    >>> with StandinServer() as srv:
    ...     client = openai.OpenAI(base_url=srv.base_url + "/v1", api_key="x")
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency_s: float = 0.0) -> None:
        self._host, self._port = host, port
        self._state = _State(latency_s)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no path; OpenAI clients add ``/v1``)."""
        if self._httpd is None:
            raise RuntimeError("StandinServer is not started")
        return f"http://{self._host}:{self._httpd.server_address[1]}"

    @property
    def latency_s(self) -> float:
        return self._state.latency_s

    @latency_s.setter
    def latency_s(self, value: float) -> None:
        with self._state.lock:
            self._state.latency_s = value

    def start(self) -> StandinServer:
        if self._httpd is not None:
            return self
        self._state.stopping.clear()
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.state = self._state
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="standin-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._state.stopping.set()  # wakes handlers sleeping in delay/hang faults
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # In-process equivalents of the admin routes (the HTTP routes serve other processes).
    def add_oracle(self, entries: dict[str, str]) -> None:
        """Add oracle entries already keyed by :func:`pipelines.llm.standins.oracle_key`."""
        with self._state.lock:
            self._state.oracle.update(entries)

    def script(self, faults: list[dict[str, Any]]) -> None:
        with self._state.lock:
            self._state.faults.extend(faults)

    @property
    def batches(self) -> Batches:
        """Files and batches: ``configure(complete_after_polls=, item_faults=)``, ``stats()``."""
        return self._state.batches

    def request_log(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [dict(e) for e in self._state.log]

    def reset(self) -> None:
        with self._state.lock:
            self._state.log.clear()
            self._state.faults.clear()


def main(argv: list[str] | None = None) -> None:
    """``python -m pipelines.llm standin --port 8765 --latency-s 0.2`` (see pipelines/llm/__main__.py)"""
    ap = argparse.ArgumentParser(prog="python -m pipelines.llm standin", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--latency-s", type=float, default=0.0, help="fixed delay per model request")
    args = ap.parse_args(argv)
    srv = StandinServer(port=args.port, latency_s=args.latency_s).start()
    print(srv.base_url, flush=True)  # first line of stdout: what a parent process reads
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
