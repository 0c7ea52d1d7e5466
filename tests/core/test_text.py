"""The core tokeniser (rubric lint, the stand-in judge): words, numbers, CJK bigrams, stopwords, must-not prefixes."""

from __future__ import annotations

from pipelines.core.text import content_tokens, strip_must_not
from pipelines.llm.lexical import coverage


def test_words_of_four_or_more_letters_lowercased_minus_stopwords() -> None:
    toks = content_tokens("The response MUST mention Rayleigh scattering and why it is so")
    assert toks == {"rayleigh", "scattering"}


def test_numbers_keep_decimals_and_percent() -> None:
    toks = content_tokens("Growth was 15.0 in 2024, a ratio of 1.16 and utilisation 102.1%.")
    assert {"15.0", "2024", "1.16", "102.1%", "growth", "ratio", "utilisation"} <= toks
    assert "102.1" not in toks  # the percent sign is part of the number


def test_full_width_digits_are_normalised() -> None:
    assert "15.0" in content_tokens("增长率为１５.０")


def test_cjk_bigrams_and_mixed_script_runs() -> None:
    toks = content_tokens("国内生产总值增长，GDP增长率")
    assert {"国内", "内生", "生产", "产总", "总值", "值增", "增长", "长率"} <= toks
    assert "长，" not in toks and "gdp" not in toks  # punctuation breaks runs; 3 letters is too short


def test_coverage_counts_and_sorts() -> None:
    cov, matched, missing = coverage({"alpha", "beta", "gamma", "delta"}, {"beta", "delta", "zeta"})
    assert cov == 0.5 and matched == ["beta", "delta"] and missing == ["alpha", "gamma"]
    assert coverage(set(), {"x"})[0] == 0.0


def test_strip_must_not_variants() -> None:
    assert strip_must_not("Must not claim the ocean colours the sky") == "claim the ocean colours the sky"
    assert strip_must_not("must NOT: recommend leverage") == "recommend leverage"
    assert strip_must_not("不得推荐杠杆") == "推荐杠杆"
    assert strip_must_not("Mentions leverage") == "Mentions leverage"
