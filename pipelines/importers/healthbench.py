"""HealthBench JSONL (openai/simple-evals `healthbench_eval.py`) to schema 1.1 submissions, and back.

One line is one example: `prompt` (a conversation, list of {role, content}), `rubrics` (list of
{criterion, points, tags}; negative points are penalties), `example_tags`, `prompt_id`,
`ideal_completions_data` ({ideal_completion, ideal_completions_group, ideal_completions_ref_completions}
or null) and `canary`. The mapping keeps everything, so `to_healthbench(import(line)) == line`:

- prompt -> task.messages; rubrics[i] -> rubric item `r{i:02d}` with the same points and tags;
- example_tags -> tags; ideal_completion -> reference_answer; each reference completion shown to
  the physicians -> completions (origin `reference_completion`);
- prompt_id, canary, ideal_completions_group -> source.provenance (with file, sha256, line number).

Scoring follows the reference exactly (`pipelines.core.scoring.healthbench_score`). The meta-evaluation
format is `pipelines.importers.healthbench_meta`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.importers.common import ImportResult, RecordError, file_sha256, stable_id, write_documents

FIELDS = ("prompt", "rubrics", "example_tags", "prompt_id", "ideal_completions_data", "canary")
IDEAL_FIELDS = ("ideal_completion", "ideal_completions_group", "ideal_completions_ref_completions")
CITATION = ("Arora et al., HealthBench: Evaluating Large Language Models Towards Improved Human Health, "
            "OpenAI 2025 (openai/simple-evals)")


class LineError(ValueError):
    """A record-level problem, reported with its line number."""


def read_jsonl(path: Path) -> list[tuple[int, object | None, str | None]]:
    """(line number, parsed value or None, error or None) for every non-blank line; never raises on content."""
    out = []
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as e:
                out.append((n, None, f"not UTF-8 ({e.reason} at byte {e.start})"))
                continue
            if not text.strip():
                continue
            try:
                out.append((n, json.loads(text), None))
            except json.JSONDecodeError as e:
                out.append((n, None, f"invalid JSON: {e.msg} (column {e.colno})"))
            except RecursionError:
                out.append((n, None, "invalid JSON: nested too deeply"))
    return out


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise LineError(msg)


def messages(prompt: object, field: str = "prompt") -> list[dict]:
    _need(isinstance(prompt, list) and len(prompt) > 0, f"{field} must be a non-empty list of {{role, content}}")
    out = []
    for i, m in enumerate(prompt):
        _need(isinstance(m, dict) and set(m) == {"role", "content"},
              f"{field}[{i}] must be an object with exactly role and content")
        _need(isinstance(m["content"], str), f"{field}[{i}].content must be a string")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _string_list(v: object, field: str) -> list[str]:
    _need(isinstance(v, list) and all(isinstance(t, str) for t in v), f"{field} must be a list of strings")
    return list(v)


def example_document(rec: object, *, name: str, language: str, file: str, sha: str, line: int) -> dict:
    """One HealthBench example as a submission document (raises LineError with a clear message)."""
    _need(isinstance(rec, dict), "a line must be a JSON object")
    missing = [f for f in ("prompt", "rubrics", "prompt_id") if f not in rec]
    _need(not missing, f"missing field(s) {', '.join(missing)}")
    unknown = sorted(set(rec) - set(FIELDS))
    _need(not unknown, f"unknown field(s) {', '.join(unknown)} (expected {', '.join(FIELDS)})")
    pid = rec["prompt_id"]
    _need(isinstance(pid, str) and pid.strip() != "", "prompt_id must be a non-empty string")
    rubric = []
    _need(isinstance(rec["rubrics"], list) and rec["rubrics"], "rubrics must be a non-empty list")
    for i, item in enumerate(rec["rubrics"]):
        _need(isinstance(item, dict) and {"criterion", "points"} <= set(item) <= {"criterion", "points", "tags"},
              f"rubrics[{i}] must be an object with criterion, points and (optionally) tags")
        pts = item["points"]
        _need(isinstance(pts, (int, float)) and not isinstance(pts, bool), f"rubrics[{i}].points must be a number")
        rubric.append({"id": f"r{i:02d}", "criterion": item["criterion"], "points": pts,
                       "tags": _string_list(item.get("tags", []), f"rubrics[{i}].tags")})
    ideal = rec.get("ideal_completions_data")
    reference, completions, kept = None, [], {}
    if ideal is not None:
        _need(isinstance(ideal, dict) and set(ideal) <= set(IDEAL_FIELDS),
              f"ideal_completions_data must be null or an object with {', '.join(IDEAL_FIELDS)}")
        reference = ideal.get("ideal_completion")
        _need(reference is None or isinstance(reference, str), "ideal_completion must be a string")
        kept["ideal_completions_group"] = ideal.get("ideal_completions_group")
        refs = ideal.get("ideal_completions_ref_completions") or []
        completions = [{"id": f"ref-{k}", "response": t, "origin": "reference_completion"}
                       for k, t in enumerate(_string_list(refs, "ideal_completions_ref_completions"))]
    if "canary" in rec:
        _need(rec["canary"] is None or isinstance(rec["canary"], str), "canary must be a string")
        kept["canary"] = rec["canary"]
    doc = {
        "schema_version": "1.1",
        "submission_id": stable_id(name, pid),
        "domain": "Healthcare",
        "language": language,
        "tags": _string_list(rec.get("example_tags", []), "example_tags"),
        "task": {"messages": messages(rec["prompt"])},
        "reference_answer": reference,
        "rubric": rubric,
        "source": {
            "origin": "public_benchmark", "benchmark": name, "citation": CITATION,
            "provenance": {"importer": "healthbench", "file": file, "sha256": sha, "lines": [line],
                           "original_id": pid, "kept": kept},
        },
    }
    if completions:
        doc["completions"] = completions
    return doc


def import_healthbench(path: Path, out_dir: Path, *, name: str, language: str = "en") -> ImportResult:
    """Every valid line becomes `out_dir/<submission_id>.json`; bad lines are reported by number."""
    result = ImportResult(path, out_dir)
    sha = file_sha256(path)
    docs, seen = [], {}
    for line, rec, err in read_jsonl(path):
        where = f"line {line}"
        if err:
            result.errors.append(RecordError(where, err))
            continue
        try:
            doc = example_document(rec, name=name, language=language, file=path.name, sha=sha, line=line)
        except LineError as e:
            result.errors.append(RecordError(where, str(e)))
            continue
        sid = doc["submission_id"]
        if sid in seen:
            result.errors.append(RecordError(where, f"prompt_id {rec['prompt_id']!r} already on line {seen[sid]}"))
            continue
        seen[sid] = line
        docs.append((where, doc, sid))
    write_documents(result, docs)
    return result


def to_healthbench(doc: dict) -> dict:
    """The HealthBench line a submission document was imported from (for round trips and export)."""
    prov = doc["source"]["provenance"]
    kept = prov.get("kept", {})
    refs = [c["response"] for c in doc.get("completions", []) if c.get("origin") == "reference_completion"]
    has_ideal = "ideal_completions_group" in kept
    out = {
        "prompt": doc["task"]["messages"],
        "rubrics": [{"criterion": c["criterion"], "points": c["points"], "tags": c.get("tags", [])}
                    for c in doc["rubric"]],
        "example_tags": doc.get("tags", []),
        "prompt_id": prov["original_id"],
        "ideal_completions_data": {
            "ideal_completion": doc.get("reference_answer"),
            "ideal_completions_group": kept["ideal_completions_group"],
            "ideal_completions_ref_completions": refs,
        } if has_ideal else None,
    }
    if "canary" in kept:
        out["canary"] = kept["canary"]
    return out
