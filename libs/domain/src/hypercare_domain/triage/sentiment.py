"""Sentiment of short informal text, -1 (very negative) to 1 (very positive).

VADER is a lexicon and rule model built for short social-media text: it reads capitals, exclamation
marks, emoticons and negations ("not good") without training data or a model download, and it is fast
and deterministic, which a replayable triage engine needs. It understands English only; other languages
score near 0 and are scored by their phrases instead.

Speed: VADER's negation and idiom checks lower-case the whole word list again for every sentiment word
they look at, which makes a long ticket quadratic. :class:`_WindowedAnalyzer` hands those two checks
only the few words around the current one (all they ever read), so the score is the same, to the last
digit, at about half the cost; and scores are cached per distinct text (redeliveries, re-sent posts).
"""

from functools import lru_cache
from typing import Protocol

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

_BEFORE = 3
"""Words before the current one that VADER's negation and idiom checks read (``i - 3`` .. ``i - 1``)."""
_AFTER = 2
"""Words after the current one that VADER's idiom check reads (``i + 1``, ``i + 2``)."""


class _Analyzer(Protocol):
    def polarity_scores(self, text: str) -> dict[str, float]: ...


class _WindowedAnalyzer(SentimentIntensityAnalyzer):  # type: ignore[misc]  # untyped library class
    """VADER whose per-word context checks see a window of words instead of the whole text.

    Both checks are only called for a word ``i`` with ``i > 2`` (idioms) or ``i > start_i`` (negation)
    and read nothing outside ``i - 3 .. i + 2``; the window keeps the index arithmetic identical.
    """

    @staticmethod
    def _negation_check(valence: float, words: list[str], start_i: int, i: int) -> float:
        low = max(0, i - _BEFORE)
        checked: float = SentimentIntensityAnalyzer._negation_check(
            valence, words[low : i + 1], start_i, i - low
        )
        return checked

    @staticmethod
    def _special_idioms_check(valence: float, words: list[str], i: int) -> float:
        low = max(0, i - _BEFORE)
        checked: float = SentimentIntensityAnalyzer._special_idioms_check(
            valence, words[low : i + _AFTER + 1], i - low
        )
        return checked


@lru_cache(maxsize=1)
def _analyzer() -> _Analyzer:
    # Built on first use: loading the lexicon takes a noticeable moment.
    analyzer: _Analyzer = _WindowedAnalyzer()
    return analyzer


@lru_cache(maxsize=2048)
def sentiment(text: str) -> float:
    """VADER's compound score of ``text``: -1 (very negative) to 1 (very positive), 0 when empty."""
    if not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])
