"""Sentiment of short informal text, -1 (very negative) to 1 (very positive).

VADER is a lexicon and rule model built for short social-media text: it reads capitals, exclamation
marks, emoticons and negations ("not good") without training data or a model download, and it is fast
and deterministic, which a replayable triage engine needs. It understands English only; other languages
score near 0 and are scored by their phrases instead.
"""

from functools import lru_cache
from typing import Protocol


class _Analyzer(Protocol):
    def polarity_scores(self, text: str) -> dict[str, float]: ...


@lru_cache(maxsize=1)
def _analyzer() -> _Analyzer:
    # Imported and built on first use: loading the lexicon takes a noticeable moment.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # noqa: PLC0415

    analyzer: _Analyzer = SentimentIntensityAnalyzer()
    return analyzer


def sentiment(text: str) -> float:
    """VADER's compound score of ``text``: -1 (very negative) to 1 (very positive), 0 when empty."""
    if not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])
