"""The stand-in server's batch endpoints: OpenAI Files + Batch API, Anthropic Message Batches.

Routes (the SDKs' own paths, so ``client.files`` / ``client.batches`` / ``client.messages.batches`` work)
  POST /v1/files                          multipart upload (purpose=batch) -> file object
  GET  /v1/files/{id}                     file object;  GET /v1/files/{id}/content  its bytes
  POST /v1/batches                        {input_file_id, endpoint, completion_window} -> batch
  GET  /v1/batches/{id}                   one poll;  POST /v1/batches/{id}/cancel
  POST /v1/messages/batches               {requests: [{custom_id, params}]} -> message batch
  GET  /v1/messages/batches/{id}          one poll;  GET .../results (JSONL, once ended);  POST .../cancel
  POST /_batches   {"complete_after_polls": n, "item_faults": [fault, ...], "get_faults": [500, ...]}
  GET  /_batches   {"created": {"openai": n, "anthropic": n}, "polls": n, "batches": [...]}

Every item is answered when its batch is created (the same bodies as a synchronous call,
``standin_wire.model_reply``), and revealed when the batch has been polled ``complete_after_polls``
times: completion is counted in polls, never in wall time, so tests do not sleep. ``item_faults``
are consumed one per item in submission order: ``status`` (+ ``message``) makes that item an error,
``expire`` makes it expire; ``content``, ``finish_reason``, ``cached_tokens`` shape its reply.
``get_faults`` answer the next GETs (polls, result downloads) with these HTTP error statuses.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import Counter, deque
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from pipelines.llm.prompt_cache import PromptCache
from pipelines.llm.standin_wire import FIXED_CREATED, error_body, model_reply

BATCH_ROUTE = re.compile(r"^(/_batches|/v1/(files|batches|messages/batches)(/.*)?)$")
Reply = tuple[int, bytes, str]  # status, body, content type
_JSON, _JSONL = "application/json", "application/jsonl"


def _json(status: int, obj: Any) -> Reply:
    return status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), _JSON


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """{field: (filename, bytes)} of a multipart/form-data body (the SDKs' file upload)."""
    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    out: dict[str, tuple[str | None, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            out[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return out


class Batches:
    """Files and batches of one stand-in server; thread-safe (handler threads share it)."""

    def __init__(self, cache: PromptCache) -> None:
        self.lock = threading.Lock()
        self.cache = cache  # the server's prompt-cache simulation: batch items are billed as sync calls
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.complete_after_polls = 1
        self.item_faults: deque[dict[str, Any]] = deque()
        self.get_faults: deque[int] = deque()  # HTTP statuses for the next GETs (polls, downloads)
        self.created: Counter[str] = Counter()
        self.polls = 0
        self._ids = itertools.count(1)

    def configure(self, complete_after_polls: int | None = None, item_faults: list[dict[str, Any]] | None = None,
                  get_faults: list[int] | None = None) -> None:
        with self.lock:
            if complete_after_polls is not None:
                self.complete_after_polls = int(complete_after_polls)
            self.item_faults.extend(item_faults or [])
            self.get_faults.extend(get_faults or [])

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"created": dict(self.created), "polls": self.polls,
                    "batches": [{"id": b["id"], "protocol": b["protocol"], "status": self._status(b),
                                 "custom_ids": [r[0] for r in b["results"]]} for b in self.batches.values()]}

    # -- dispatch ------------------------------------------------------------------------
    def handle(self, method: str, path: str, content_type: str, raw: bytes, oracle: dict[str, str],
               origin: str) -> Reply:
        parts = path.strip("/").split("/")
        try:
            if path == "/_batches":
                if method == "POST":
                    self.configure(**json.loads(raw or b"{}"))
                return _json(200, self.stats())
            with self.lock:
                fault = self.get_faults.popleft() if method == "GET" and self.get_faults else None
            if fault is not None:
                protocol = "anthropic" if "messages" in parts else "openai"
                return _json(fault, error_body(protocol, fault, f"stand-in fault on GET: {fault}"))
            if parts[:2] == ["v1", "files"]:
                return self._files(method, parts[2:], content_type, raw)
            if parts[:2] == ["v1", "batches"]:
                return self._openai(method, parts[2:], raw, oracle)
            return self._anthropic(method, parts[3:], raw, oracle, origin)
        except (KeyError, ValueError, TypeError) as exc:
            protocol = "anthropic" if "messages" in parts else "openai"
            return _json(400, error_body(protocol, 400, f"bad batch request: {type(exc).__name__}: {exc}"))

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_standin{next(self._ids):06d}"

    def _answer(self, protocol: str, body: dict[str, Any], oracle: dict[str, str]) -> tuple[str, int, dict[str, Any]]:
        """(outcome, status, body) of one item: ok, error or expired."""
        fault = self.item_faults.popleft() if self.item_faults else {}
        if fault.get("expire"):
            return "expired", 0, {}
        if "status" in fault and int(fault["status"]) != 200:
            status = int(fault["status"])
            return "error", status, error_body(protocol, status, str(fault.get("message", f"stand-in item fault {status}")))
        status, payload = model_reply(protocol, body, fault, oracle, self.cache)
        return ("ok" if status == 200 else "error"), status, payload

    def _poll(self, batch: dict[str, Any]) -> None:
        self.polls += 1
        if batch["status"] == "in_progress":
            batch["polls"] += 1
            if batch["polls"] >= self.complete_after_polls:
                batch["status"] = "ended"

    def _status(self, b: dict[str, Any]) -> str:
        return str(b["status"])

    def _counts(self, b: dict[str, Any]) -> Counter[str]:
        """Outcomes revealed so far: a share of the items per poll while in progress, all once ended."""
        n = len(b["results"])
        if b["status"] == "in_progress":
            shown = n * b["polls"] // max(1, self.complete_after_polls)
        else:
            shown = n
        return Counter(r[1] for r in b["results"][:shown])

    # -- OpenAI files and batches --------------------------------------------------------
    def _file_obj(self, f: dict[str, Any]) -> dict[str, Any]:
        return {"id": f["id"], "object": "file", "bytes": len(f["data"]), "created_at": FIXED_CREATED,
                "filename": f["filename"], "purpose": f["purpose"], "status": "processed"}

    def _files(self, method: str, rest: list[str], content_type: str, raw: bytes) -> Reply:
        with self.lock:
            if method == "POST" and not rest:
                form = _multipart(content_type, raw)
                f = {"id": self._new_id("file"), "filename": form["file"][0] or "upload.jsonl",
                     "purpose": form["purpose"][1].decode(), "data": form["file"][1]}
                self.files[f["id"]] = f
                return _json(200, self._file_obj(f))
            f = self.files.get(rest[0]) if rest else None
            if f is None:
                return _json(404, error_body("openai", 404, f"no such file: {rest}"))
            if rest[1:] == ["content"]:
                return 200, f["data"], _JSONL
            return _json(200, self._file_obj(f))

    def _openai(self, method: str, rest: list[str], raw: bytes, oracle: dict[str, str]) -> Reply:
        with self.lock:
            if method == "POST" and not rest:
                req = json.loads(raw)
                lines = [json.loads(x) for x in self.files[req["input_file_id"]]["data"].decode().splitlines() if x]
                results = [(x["custom_id"], *self._answer("openai", x["body"], oracle)) for x in lines]
                b = {"id": self._new_id("batch"), "protocol": "openai", "status": "in_progress", "polls": 0,
                     "results": results, "request": req}
                self.batches[b["id"]] = b
                self.created["openai"] += 1
                return _json(200, self._openai_obj(b))
            b = self.batches.get(rest[0]) if rest else None
            if b is None or b["protocol"] != "openai":
                return _json(404, error_body("openai", 404, f"no such batch: {rest}"))
            if rest[1:] == ["cancel"] and b["status"] == "in_progress":
                b["status"] = "cancelled"
            elif not rest[1:]:
                self._poll(b)
            return _json(200, self._openai_obj(b))

    def _openai_obj(self, b: dict[str, Any]) -> dict[str, Any]:
        counts = self._counts(b)
        status = {"in_progress": "in_progress", "ended": "completed", "cancelled": "cancelled"}[b["status"]]
        out_id = err_id = None
        if b["status"] != "in_progress" and "output_file_id" not in b:
            ok = [{"id": f"batch_req_{i}", "custom_id": cid, "error": None,
                   "response": {"status_code": st, "request_id": f"req_{i}", "body": body}}
                  for i, (cid, outcome, st, body) in enumerate(b["results"]) if outcome == "ok"]
            bad = [{"id": f"batch_req_{i}", "custom_id": cid, "response": None if outcome != "error" else
                    {"status_code": st, "request_id": f"req_{i}", "body": body},
                    "error": None if outcome == "error" else
                    {"code": "batch_expired", "message": "This request could not be executed before the "
                     "completion window expired." if b["status"] == "ended" else "The batch was cancelled."}}
                   for i, (cid, outcome, st, body) in enumerate(b["results"]) if outcome != "ok"]
            if b["status"] == "cancelled":  # a cancelled batch reports no answers: every item goes to errors
                bad, ok = [*bad, *({**r, "response": None, "error": {"code": "batch_cancelled",
                                                                    "message": "cancelled"}} for r in ok)], []
            for name, rows in (("output_file_id", ok), ("error_file_id", bad)):
                if rows:
                    fid = self._new_id("file")
                    self.files[fid] = {"id": fid, "filename": f"{b['id']}_{name}.jsonl", "purpose": "batch_output",
                                       "data": _jsonl(rows)}
                    b[name] = fid
        if b["status"] != "in_progress":
            out_id, err_id = b.get("output_file_id"), b.get("error_file_id")
        req = b["request"]
        return {"id": b["id"], "object": "batch", "endpoint": req["endpoint"], "errors": None,
                "input_file_id": req["input_file_id"], "completion_window": req["completion_window"],
                "status": status, "output_file_id": out_id, "error_file_id": err_id,
                "created_at": FIXED_CREATED, "metadata": req.get("metadata"),
                "request_counts": {"total": len(b["results"]), "completed": counts["ok"],
                                   "failed": counts["error"] + counts["expired"]}}

    # -- Anthropic message batches -------------------------------------------------------
    def _anthropic(self, method: str, rest: list[str], raw: bytes, oracle: dict[str, str], origin: str) -> Reply:
        with self.lock:
            if method == "POST" and not rest:
                reqs = json.loads(raw)["requests"]
                results = [(r["custom_id"], *self._answer("anthropic", r["params"], oracle)) for r in reqs]
                b = {"id": self._new_id("msgbatch"), "protocol": "anthropic", "status": "in_progress", "polls": 0,
                     "results": results}
                self.batches[b["id"]] = b
                self.created["anthropic"] += 1
                return _json(200, self._anthropic_obj(b, origin))
            b = self.batches.get(rest[0]) if rest else None
            if b is None or b["protocol"] != "anthropic":
                return _json(404, error_body("anthropic", 404, f"no such message batch: {rest}"))
            if rest[1:] == ["results"]:
                if b["status"] == "in_progress":
                    return _json(400, error_body("anthropic", 400, "batch has not ended"))
                return 200, _jsonl([self._anthropic_result(b, r) for r in b["results"]]), _JSONL
            if rest[1:] == ["cancel"] and b["status"] == "in_progress":
                b["status"] = "cancelled"
            elif not rest[1:]:
                self._poll(b)
            return _json(200, self._anthropic_obj(b, origin))

    @staticmethod
    def _anthropic_result(b: dict[str, Any], r: tuple[str, str, int, dict[str, Any]]) -> dict[str, Any]:
        cid, outcome, _status, body = r
        if b["status"] == "cancelled":
            return {"custom_id": cid, "result": {"type": "canceled"}}
        if outcome == "ok":
            return {"custom_id": cid, "result": {"type": "succeeded", "message": body}}
        if outcome == "expired":
            return {"custom_id": cid, "result": {"type": "expired"}}
        return {"custom_id": cid, "result": {"type": "errored", "error": body}}

    def _anthropic_obj(self, b: dict[str, Any], origin: str) -> dict[str, Any]:
        counts = self._counts(b)
        ended = b["status"] != "in_progress"
        total = len(b["results"])
        if b["status"] == "cancelled":
            n = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": total, "expired": 0}
        else:
            n = {"processing": total - sum(counts.values()), "succeeded": counts["ok"], "errored": counts["error"],
                 "canceled": 0, "expired": counts["expired"]}
        return {"id": b["id"], "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
                "request_counts": n, "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-02T00:00:00Z",
                "ended_at": "2026-01-01T00:00:01Z" if ended else None, "archived_at": None,
                "cancel_initiated_at": None,
                "results_url": f"{origin}/v1/messages/batches/{b['id']}/results" if ended else None}
