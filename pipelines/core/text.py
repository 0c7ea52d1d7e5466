"""Text normalisation and tokens shared by dedup, rubric lint and consistency checks."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+(?:[.%][0-9]+%?)?|[\u4e00-\u9fff]")
_CJK = re.compile(r"[\u4e00-\u9fff]")

STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how if in into
    is it its may must not of on or should such than that the their them then there these they this
    those to was were what when where which while who why will with would your you our we also any
    each other more most some only own same so very just over under about between both all per
    include includes including identify identifies states state clearly correctly accurately
    answer response provide provides explain explains""".split()
)


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def tokens(text: str) -> list[str]:
    """Lowercase words and numbers; each CJK character is its own token."""
    return _WORD.findall(normalize(text))


def content_tokens(text: str) -> set[str]:
    """Tokens that carry meaning: words of 4+ letters not in the stoplist, numbers, CJK bigrams."""
    toks = tokens(text)
    out = {t for t in toks if not _CJK.fullmatch(t) and (any(c.isdigit() for c in t) or len(t) >= 4)}
    out -= STOPWORDS
    cjk = [t for t in toks if _CJK.fullmatch(t)]
    out |= {a + b for a, b in zip(cjk, cjk[1:])}
    return out


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
