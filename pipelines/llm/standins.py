"""Deterministic stand-in models ("responders"), chosen by the requested model id.

They exist so the whole pipeline runs offline and scores differ between candidates; they say
nothing about real model quality. Every reply is a pure function of the request (and of the
oracle table the caller registered): no clock, no randomness.

* ``standin-oracle``  - the registered reference answer for the prompt (else the generic answer)
* ``standin-partial`` - the first ~45% of the reference answer's sentences (else generic)
* ``standin-generic`` - a plausible but unspecific structured answer built from the prompt
* ``standin-judge``   - verdict JSON by a transparent lexical rule (see :func:`judge_reply`)

Judge prompt protocol (the judge template follows it exactly): the last user message holds
``<rubric>\\n[{"id", "criterion", "polarity": "requirement"|"must_not"}, ...]\\n</rubric>`` and
the answer inside ``<candidate_response_NONCE>...</candidate_response_NONCE>`` (NONCE hex, the
closing tag repeats it). The last well-formed candidate pair is used; the rubric is searched
outside that pair, last occurrence first, so an answer cannot inject its own rubric or verdicts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipelines.core.text import content_tokens, strip_must_not
from pipelines.llm.lexical import coverage

REQUIREMENT_THRESHOLD = 0.5
MUST_NOT_THRESHOLD = 0.8
PARTIAL_SHARE = 0.45
REPORTED_SUFFIX = "-2026-11"


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str = "stop"  # OpenAI vocabulary; the server maps it per protocol


Responder = Callable[[str, Mapping[str, str]], Reply]


def oracle_key(prompt_text: str) -> str:
    """Key of an oracle entry: sha256 hex of the prompt (last user message), utf-8, stripped."""
    return hashlib.sha256(prompt_text.strip().encode("utf-8")).hexdigest()


def reported_model_id(model_id: str) -> str:
    """The id the stand-in reports back; deliberately different from the requested one."""
    return model_id + REPORTED_SUFFIX


# --- candidates -----------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？]|\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-blank sentence; decimals such as 15.0 do not end a sentence."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if text[start : m.end()].strip():
            spans.append((start, m.end()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def truncate_reference(reference: str, share: float = PARTIAL_SHARE) -> str:
    """The first ``share`` of the sentences (at least one, never all when there are two or more)."""
    spans = sentence_spans(reference)
    if len(spans) >= 2:
        k = min(max(1, _half_up(share * len(spans))), len(spans) - 1)
        return reference[: spans[k - 1][1]].strip()
    words = reference.split()  # a single sentence: cut by words instead
    return " ".join(words[: max(1, _half_up(share * len(words)))])


def _half_up(x: float) -> int:
    return int(x + 0.5)  # round() rounds 4.5 to 4 (banker's rounding); a reader expects 5


def topic_words(prompt: str, n: int = 4) -> list[str]:
    """Most frequent content tokens of the prompt; ties keep first-occurrence order."""
    order: dict[str, int] = {}
    counts: Counter[str] = Counter()
    for i, word in enumerate(re.findall(r"\S+", prompt)):
        for tok in sorted(content_tokens(word)):
            if any(c.isdigit() for c in tok):
                continue
            counts[tok] += 1
            order.setdefault(tok, i)
    ranked = sorted(counts, key=lambda t: (-counts[t], order[t]))
    return ranked[:n] or ["the question"]


def generic_answer(prompt: str) -> str:
    t = topic_words(prompt)
    a, b, c = t[0], t[min(1, len(t) - 1)], t[min(2, len(t) - 1)]
    return (
        "## Overview\n"
        f"This question concerns {', '.join(t)}. A sound answer starts from the facts of the case "
        "and the applicable standards before drawing conclusions.\n\n"
        "## Key considerations\n"
        f"- Clarify the scope and the assumptions behind {a}.\n"
        f"- Weigh the main risks and trade-offs involving {b}.\n"
        f"- Check the relevant rules, data and precedents that bear on {c}.\n\n"
        "## Recommendation\n"
        "Proceed step by step, document each assumption, and consult a qualified specialist "
        "before acting on the conclusions."
    )


def oracle(prompt: str, table: Mapping[str, str]) -> Reply:
    ref = table.get(oracle_key(prompt))
    return Reply(ref if ref is not None else generic_answer(prompt))


def partial(prompt: str, table: Mapping[str, str]) -> Reply:
    ref = table.get(oracle_key(prompt))
    return Reply(truncate_reference(ref) if ref is not None else generic_answer(prompt))


def generic(prompt: str, table: Mapping[str, str]) -> Reply:
    return Reply(generic_answer(prompt))


# --- judge ----------------------------------------------------------------------------------

_CANDIDATE = re.compile(r"<candidate_response_([0-9a-f]+)>(.*?)</candidate_response_\1>", re.DOTALL)
_RUBRIC = re.compile(r"<rubric>\s*(.*?)\s*</rubric>", re.DOTALL)


def parse_judge_prompt(prompt: str) -> tuple[list[dict[str, str]] | None, str]:
    """(rubric items or None if absent/invalid, candidate answer or "")."""
    answer, outside = "", prompt
    pairs = list(_CANDIDATE.finditer(prompt))
    if pairs:
        last = pairs[-1]
        answer = last.group(2)
        outside = prompt[: last.start()] + "\n" + prompt[last.end() :]
    # The rubric must come from the template, never from inside the answer.
    outside = _CANDIDATE.sub("", outside)
    blocks = _RUBRIC.findall(outside)
    if not blocks:
        return None, answer
    try:
        items = json.loads(blocks[-1])
    except json.JSONDecodeError:
        return None, answer
    if not isinstance(items, list):
        return None, answer
    rubric, seen = [], set()
    for it in items:
        if not isinstance(it, dict) or not isinstance(it.get("id"), str) or not isinstance(it.get("criterion"), str):
            continue
        if it["id"] in seen:
            continue
        seen.add(it["id"])
        polarity = str(it.get("polarity", "requirement"))
        rubric.append({"id": it["id"], "criterion": it["criterion"], "polarity": polarity})
    return rubric, answer


def _short(tokens: list[str], n: int = 6) -> str:
    return ", ".join(tokens[:n]) + (f" (+{len(tokens) - n})" if len(tokens) > n else "") if tokens else "-"


def judge_verdict(item: Mapping[str, str], answer_tokens: set[str]) -> dict[str, str]:
    """One verdict by the lexical rule; ``met`` for must_not means the error was avoided."""
    if item.get("polarity") == "must_not":
        crit = content_tokens(strip_must_not(item["criterion"]))
        cov, matched, missing = coverage(crit, answer_tokens)
        violated = bool(crit) and cov >= MUST_NOT_THRESHOLD
        verdict = "not_met" if violated else "met"
        why = f"must_not: coverage {cov:.2f} {'>=' if violated else '<'} {MUST_NOT_THRESHOLD}"
    else:
        crit = content_tokens(item["criterion"])
        cov, matched, missing = coverage(crit, answer_tokens)
        verdict = "met" if cov >= REQUIREMENT_THRESHOLD else "not_met"
        why = f"coverage {cov:.2f} {'>=' if verdict == 'met' else '<'} {REQUIREMENT_THRESHOLD}"
    rationale = f"{why} ({len(matched)}/{len(crit)}); matched: {_short(matched)}; missing: {_short(missing)}"
    return {"id": item["id"], "verdict": verdict, "rationale": rationale}


def judge_reply(prompt: str) -> str:
    rubric, answer = parse_judge_prompt(prompt)
    if rubric is None:
        return json.dumps({"verdicts": [], "error": "no <rubric> block found"})
    answer_tokens = content_tokens(answer)
    return json.dumps({"verdicts": [judge_verdict(it, answer_tokens) for it in rubric]}, ensure_ascii=False)


def judge(prompt: str, table: Mapping[str, str]) -> Reply:
    return Reply(judge_reply(prompt))


RESPONDERS: dict[str, Responder] = {
    "standin-oracle": oracle,
    "standin-partial": partial,
    "standin-generic": generic,
    "standin-judge": judge,
}


def respond(model_id: str, prompt: str, table: Mapping[str, str]) -> Reply | None:
    """The reply of stand-in ``model_id`` to ``prompt`` (last user message); None if unknown model.

    ``standin-generic@b`` is a variant of ``standin-generic``: the same behaviour with a sign-off
    naming the variant, so several stand-in candidates can give distinct (but comparable) answers.
    """
    base, _, variant = model_id.partition("@")
    responder = RESPONDERS.get(base)
    if responder is None:
        return None
    reply = responder(prompt, table)
    if variant and base != "standin-judge":
        reply = Reply(f"{reply.text}\n\n(Prepared by stand-in desk {variant}.)", reply.finish_reason)
    return reply


__all__ = [
    "RESPONDERS",
    "Reply",
    "generic_answer",
    "judge_reply",
    "oracle_key",
    "parse_judge_prompt",
    "reported_model_id",
    "respond",
    "sentence_spans",
    "truncate_reference",
]
