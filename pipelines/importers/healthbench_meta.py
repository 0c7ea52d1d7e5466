"""HealthBench meta-evaluation JSONL (openai/simple-evals `healthbench_meta_eval.py`) to meta-evaluation sets.

One line is one (conversation, completion, rubric criterion) with one binary label per physician:
`prompt`, `completion`, `completion_id`, `prompt_id`, `rubric` (one criterion), `category`,
`binary_labels`, `anonymized_physician_ids`. Lines of one prompt_id become one submission with
`source.use: meta_eval`: the conversation, every distinct criterion (unscored, tagged `category:<c>`),
every completion, and each physician's label as a grader verdict (grader id = physician id) on that
criterion for that completion. `judge_agreement` grades the completions and compares with every label,
pairwise as the reference does (`pipelines.core.agreement.healthbench_pairwise_f1`).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pipelines.importers.common import ImportResult, RecordError, file_sha256, stable_id, write_documents
from pipelines.importers.healthbench import CITATION, LineError, _need, messages, read_jsonl

FIELDS = ("prompt", "completion", "completion_id", "prompt_id", "rubric", "category", "binary_labels",
          "anonymized_physician_ids")
CATEGORY_TAG = "category:"


def _check_line(rec: object) -> dict:
    _need(isinstance(rec, dict), "a line must be a JSON object")
    missing = [f for f in FIELDS if f not in rec]
    _need(not missing, f"missing field(s) {', '.join(missing)}")
    unknown = sorted(set(rec) - set(FIELDS))
    _need(not unknown, f"unknown field(s) {', '.join(unknown)}")
    for f in ("completion", "completion_id", "prompt_id", "rubric", "category"):
        _need(isinstance(rec[f], str), f"{f} must be a string")
    for f in ("completion_id", "prompt_id", "rubric", "category"):
        _need(rec[f].strip() != "", f"{f} must not be empty")
    labels, ids = rec["binary_labels"], rec["anonymized_physician_ids"]
    _need(isinstance(labels, list) and labels and all(isinstance(x, bool) for x in labels),
          "binary_labels must be a non-empty list of true/false")
    _need(isinstance(ids, list) and all(isinstance(x, str) and x for x in ids),
          "anonymized_physician_ids must be a list of non-empty strings")
    _need(len(ids) == len(labels), f"{len(labels)} binary_labels but {len(ids)} anonymized_physician_ids")
    _need(len(set(ids)) == len(ids), "a physician labels a line once")
    return {**rec, "prompt": messages(rec["prompt"])}


def _set_document(pid: str, lines: list[tuple[int, dict]], *, name: str, language: str, file: str,
                  sha: str) -> tuple[dict, list[RecordError]]:
    """One prompt's lines as one meta-evaluation set; lines that contradict the first are reported."""
    errors = []
    first = lines[0][1]
    criteria: dict[str, dict] = {}
    completions: dict[str, str] = {}
    used = []
    for line, rec in lines:
        try:
            _need(rec["prompt"] == first["prompt"], f"prompt differs from line {lines[0][0]} (same prompt_id)")
            cid = rec["completion_id"]
            _need(completions.get(cid, rec["completion"]) == rec["completion"],
                  f"completion_id {cid!r} has another text on an earlier line")
            crit = criteria.get(rec["rubric"])
            tag = CATEGORY_TAG + rec["category"]
            _need(crit is None or crit["tags"] == [tag], "the same criterion has another category on an earlier line")
            if crit is not None:
                graded = {(v["grader_id"], v["completion_id"]) for v in crit["grader_verdicts"]}
                twice = [p for p in rec["anonymized_physician_ids"] if (p, cid) in graded]
                _need(not twice, f"physician(s) {twice} already labelled this criterion for this completion")
        except LineError as e:
            errors.append(RecordError(f"line {line}", str(e)))
            continue
        completions.setdefault(cid, rec["completion"])
        if crit is None:
            crit = criteria[rec["rubric"]] = {"id": f"m{len(criteria):02d}", "criterion": rec["rubric"],
                                              "tags": [tag], "grader_verdicts": []}
        crit["grader_verdicts"] += [{"grader_id": p, "completion_id": cid, "verdict": "met" if lab else "not_met"}
                                    for p, lab in zip(rec["anonymized_physician_ids"], rec["binary_labels"])]
        used.append(line)
    doc = {
        "schema_version": "1.1",
        "submission_id": stable_id(f"{name}-meta", pid),
        "domain": "Healthcare",
        "language": language,
        "task": {"messages": first["prompt"]},
        "rubric": list(criteria.values()),
        "completions": [{"id": c, "response": t, "origin": "meta_eval"} for c, t in completions.items()],
        "source": {
            "origin": "public_benchmark", "benchmark": name, "citation": CITATION, "use": "meta_eval",
            "provenance": {"importer": "healthbench_meta_eval", "file": file, "sha256": sha, "lines": used,
                           "original_id": pid},
        },
    }
    return doc, errors


def import_meta_eval(path: Path, out_dir: Path, *, name: str, language: str = "en") -> ImportResult:
    """Meta-evaluation sets into `out_dir/meta_eval/`, one file per prompt_id; bad lines reported by number."""
    result = ImportResult(path, out_dir)
    sha = file_sha256(path)
    by_prompt: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for line, rec, err in read_jsonl(path):
        if err:
            result.errors.append(RecordError(f"line {line}", err))
            continue
        try:
            rec = _check_line(rec)
        except LineError as e:
            result.errors.append(RecordError(f"line {line}", str(e)))
            continue
        by_prompt[rec["prompt_id"]].append((line, rec))
    docs = []
    for pid, lines in by_prompt.items():
        doc, errors = _set_document(pid, lines, name=name, language=language, file=path.name, sha=sha)
        result.errors += errors
        where = f"lines {', '.join(map(str, doc['source']['provenance']['lines']))}"
        if doc["rubric"]:
            docs.append((where, doc, doc["submission_id"]))
    write_documents(result, docs, subdir="meta_eval")
    return result


def to_meta_eval_lines(doc: dict) -> list[dict]:
    """The meta-evaluation lines a set was imported from (one per criterion and completion)."""
    texts = {c["id"]: c["response"] for c in doc["completions"]}
    out = []
    for crit in doc["rubric"]:
        by_completion: dict[str, list[dict]] = defaultdict(list)
        for v in crit["grader_verdicts"]:
            by_completion[v["completion_id"]].append(v)
        category = next(t[len(CATEGORY_TAG):] for t in crit["tags"] if t.startswith(CATEGORY_TAG))
        for cid, vs in by_completion.items():
            out.append({
                "prompt": doc["task"]["messages"], "completion": texts[cid], "completion_id": cid,
                "prompt_id": doc["source"]["provenance"]["original_id"], "rubric": crit["criterion"],
                "category": category, "binary_labels": [v["verdict"] == "met" for v in vs],
                "anonymized_physician_ids": [v["grader_id"] for v in vs],
            })
    return out
