"""Text normalisation and shingles for duplicate detection and the language check.

(Content words for rubric consistency come from pipelines.llm.lexical, the stand-in judge's tokeniser.)
"""

from __future__ import annotations

import re
import unicodedata


_WORD = re.compile(r"[a-z0-9]+(?:[.%][0-9]+%?)?|[\u4e00-\u9fff]")
_CJK = re.compile(r"[\u4e00-\u9fff]")

def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def tokens(text: str) -> list[str]:
    """Lowercase words and numbers; each CJK character is its own token."""
    return _WORD.findall(normalize(text))


def shingles(text: str, k: int) -> set[str]:
    toks = tokens(text)
    if len(toks) < k:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i : i + k]) for i in range(len(toks) - k + 1)}


def cjk_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _CJK.match(c)) / len(letters)
