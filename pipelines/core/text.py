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


# Frequent English function words that are not also common words of other Latin-script languages
# ("a", "in", "do", "as", "was", "will" are left out: Spanish, German, Portuguese use them too).
_EN_FUNCTION = frozenset(
    "the and of to is are be been for with you your that this it its or not have has had what how why should "
    "can could would my me i does did if about from at by which there they their when any than".split())
_LATIN_WORD = re.compile(r"[a-z]+")


def script_profile(text: str) -> str:
    """The dominant script of the letters: 'cjk', 'latin' or 'other' (Devanagari, Cyrillic, ...); '' if none."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return ""
    cjk = sum(1 for c in letters if _CJK.match(c)) / len(letters)
    latin = sum(1 for c in letters if c.isascii() or unicodedata.name(c, "").startswith("LATIN")) / len(letters)
    return "cjk" if cjk >= 0.3 else ("latin" if latin >= 0.6 else "other")


def english_share(text: str) -> float:
    words = _LATIN_WORD.findall(unicodedata.normalize("NFKD", text.lower()))
    return sum(1 for w in words if w in _EN_FUNCTION) / len(words) if words else 0.0


def same_language(a: str, b: str) -> bool:
    """Whether two texts look like one language: same dominant script and, for Latin script, both or
    neither English by function words. Deliberately coarse: it only decides whether comparing their
    words can mean anything."""
    sa, sb = script_profile(a), script_profile(b)
    if not sa or not sb or sa != sb:
        return sa == sb
    if sa != "latin":
        return True
    ea, eb = english_share(a), english_share(b)
    return not ((ea >= 0.12 and eb < 0.05) or (eb >= 0.12 and ea < 0.05))
