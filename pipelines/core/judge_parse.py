"""Parse a judge reply into per-checkpoint verdicts, checked against the checkpoints asked for.

A verdict is accepted only when its id was asked for, appears exactly once, and its value is met
or not_met. Everything else is reported as a problem for that id, never guessed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.M)
VALID = {"met": True, "not_met": False}


# Why a checkpoint got no verdict from a reply: the classification every judge_error carries
# (`error_kind` in judgements) and that a re-ask tells the judge about.
EMPTY, INVALID_JSON, NO_VERDICTS = "empty_reply", "invalid_json", "no_verdicts_list"
MISSING, DUPLICATED, INVALID_VALUE = "missing_id", "duplicated_id", "invalid_value"


@dataclass(frozen=True)
class ParsedReply:
    verdicts: dict[str, tuple[bool, str]]  # id -> (met, rationale), accepted ones only
    problems: dict[str, str] = field(default_factory=dict)  # id -> why it was not accepted
    reply_error: str | None = None  # the reply as a whole could not be read
    kinds: dict[str, str] = field(default_factory=dict)  # id -> one of the kinds above
    unknown_ids: tuple[str, ...] = ()  # ids in the reply that were not asked for (ignored)


def _extract_json(text: str) -> object:
    stripped = _FENCE.sub("", text.strip())
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        start, end = stripped.find("{"), stripped.rfind("}")
        if start == -1 or end <= start:
            raise
        return json.loads(stripped[start : end + 1])


def parse_judge_reply(text: str | None, expected_ids: list[str]) -> ParsedReply:
    expected = set(expected_ids)

    def whole(kind: str, problem: str, error: str) -> ParsedReply:
        return ParsedReply({}, {i: problem for i in expected_ids}, error, {i: kind for i in expected_ids})

    if not text or not text.strip():
        return whole(EMPTY, "empty reply", "empty reply")
    try:
        obj = _extract_json(text)
    except json.JSONDecodeError as e:
        return whole(INVALID_JSON, "unparseable reply", f"invalid JSON: {e.msg}")
    items = obj.get("verdicts") if isinstance(obj, dict) else None
    if not isinstance(items, list):
        return whole(NO_VERDICTS, "no verdicts list", "reply has no 'verdicts' list")

    # Only string ids can name a checkpoint; anything else (a list, a number) is ignored as unknown.
    items = [it for it in items if isinstance(it, dict) and isinstance(it.get("id"), str)]
    ids = [it["id"] for it in items]
    counts = Counter(ids)
    verdicts: dict[str, tuple[bool, str]] = {}
    problems: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for it in items:
        cid = it["id"]
        if cid not in expected:
            continue  # unknown ids are ignored; they cannot fill a checkpoint that was asked for
        if counts[cid] > 1:
            problems[cid], kinds[cid] = f"verdict given {counts[cid]} times", DUPLICATED
            continue
        value = it.get("verdict")
        if isinstance(value, bool):  # tolerate true/false, which is unambiguous
            value = "met" if value else "not_met"
        if value not in VALID:
            problems[cid], kinds[cid] = f"invalid verdict {value!r}", INVALID_VALUE
            continue
        verdicts[cid] = (VALID[value], str(it.get("rationale", "")).strip())
    for cid in expected_ids:
        if cid not in verdicts and cid not in problems:
            problems[cid], kinds[cid] = "missing from reply", MISSING
    unknown = tuple(dict.fromkeys(i for i in ids if i not in expected))
    return ParsedReply(verdicts, problems, None, kinds, unknown)
