"""Sentiment of short informal text, -1 (very negative) to 1 (very positive).

VADER is a lexicon and rule model built for short social-media text: it reads capitals, exclamation
marks, emoticons and negations ("not good") without training data or a model download, and it is fast
and deterministic, which a replayable triage engine needs. It understands English only; other languages
score near 0 and are scored by their phrases instead.

The normalizer scores every human report once (``NormalizedReport.sentiment``); triage reuses that
score and computes it only for reports that arrive without one.

Speed: VADER's negation and idiom checks lower-case the whole word list again for every sentiment word
they look at, which makes a long ticket quadratic. :class:`_WindowedAnalyzer` hands those two checks
only the few words around the current one (all they ever read), so the score is the same, to the last
digit, at about half the cost. VADER also starts by copying the text one character at a time to swap
emoji for their descriptions; a text without any emoji character skips that copy. Scores are cached
per distinct text (redeliveries, re-sent posts).
"""

from functools import lru_cache
from typing import Any, Protocol

from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentimentIntensityAnalyzer, SentiText

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

    def __init__(self) -> None:
        super().__init__()
        # VADER's emoji pass looks at one character at a time, so only one-character keys can match.
        self._emoji_chars = frozenset(key for key in self.emojis if len(key) == 1)

    def polarity_scores(self, text: str) -> dict[str, float]:
        """VADER's scores; a text with no emoji character skips the character-by-character copy."""
        if not self._emoji_chars.isdisjoint(text):
            scores: dict[str, float] = super().polarity_scores(text)
            return scores
        # Without an emoji the copy equals the text, so what follows is VADER's own sequence on it.
        text = text.strip()
        sentitext = SentiText(text)
        words = sentitext.words_and_emoticons
        sentiments: list[Any] = []
        for i, item in enumerate(words):
            lowered = item.lower()
            if lowered in BOOSTER_DICT or (
                lowered == "kind" and i < len(words) - 1 and words[i + 1].lower() == "of"
            ):
                sentiments.append(0)
                continue
            sentiments = self.sentiment_valence(0, sentitext, item, i, sentiments)
        sentiments = self._but_check(words, sentiments)
        valence: dict[str, float] = self.score_valence(sentiments, text)
        return valence

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
