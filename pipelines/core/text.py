"""Text helpers of the domain core: normalisation, tokens, shingles, content words.

Duplicate detection and the language check use `tokens`/`shingles`/`cjk_share`; rubric lint uses
`content_tokens` (a criterion's meaningful words, numbers and CJK bigrams), which the stand-in
judge's lexical rule (pipelines/llm/lexical.py) uses too.

Content tokens: meaningful words (lowercase, >= 4 letters, not a stopword), numbers kept verbatim
with decimals and a trailing percent sign (``15.0``, ``1.16``, ``102.1%``) and, for Chinese text,
bigrams of consecutive CJK characters (Chinese has no spaces, so single characters are too common
and whole runs too rare to match).
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+(?:[.%][0-9]+%?)?|[\u4e00-\u9fff]")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def normalize(text: str) -> str:
    """NFKC, lowercase, runs of white space folded to one space."""
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


# Numbers first so "102.1%" stays one token; then runs of letters (any script, no digits).
_TOKEN = re.compile(r"\d+(?:\.\d+)*%?|[^\W\d_]+")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

# Small on purpose: frequent English function words of >= 4 letters plus rubric boilerplate
# ("the response must mention ...") that would otherwise match every answer.
STOPWORDS: frozenset[str] = frozenset(
    """
    about above after again against also because been before being below between both could
    does doing down during each either every from further have having here into itself just
    more most much must need needs only other over same shall should some such than that their
    theirs them then there these they this those through under until upon very were what when
    where which while whom whose will with within without would your yours
    answer answers response responses mention mentions mentioned include includes including
    provide provides state states stated explain explains identify identifies correctly
    clearly accurately appropriately properly least
    """.split()
)

# Leading negation of a "must not" criterion; the judge tests the text after it.
_MUST_NOT_PREFIX = re.compile(
    r"^\s*(?:the\s+(?:response|answer)\s+)?(?:must\s+not|mustn't|should\s+not|shouldn't|does\s+not|"
    r"doesn't|do\s+not|don't|never|avoid(?:s)?|不得|不应|不能|不要|不可|切勿)\s*[:：,，\-]?\s*",
    re.IGNORECASE,
)


def _fold(text: str) -> str:
    """NFKC (full-width digits and letters become ASCII) and lowercase; spacing kept."""
    return unicodedata.normalize("NFKC", text).lower()


def _is_number(tok: str) -> bool:
    return tok[0].isdigit()


def content_tokens(text: str) -> set[str]:
    """The set of content tokens of ``text`` (see module docstring)."""
    out: set[str] = set()
    for tok in _TOKEN.findall(_fold(text)):
        if _is_number(tok):
            out.add(tok)
            continue
        # A letter run may mix scripts ("gdp增长率"): split CJK runs out of it.
        last = 0
        for m in _CJK_RUN.finditer(tok):
            _add_word(out, tok[last : m.start()])
            run = m.group()
            out.update(run[i : i + 2] for i in range(len(run) - 1))
            last = m.end()
        _add_word(out, tok[last:])
    return out


def _add_word(out: set[str], word: str) -> None:
    if len(word) >= 4 and word not in STOPWORDS:
        out.add(word)


def strip_must_not(criterion: str) -> str:
    """The criterion text after a leading "Must not" (or a close variant); unchanged otherwise."""
    return _MUST_NOT_PREFIX.sub("", criterion, count=1)
