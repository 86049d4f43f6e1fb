"""The windowed VADER analyzer scores exactly like the stock one (it only reads less, and remembers)."""

import random

import pytest
from hypercare_domain import sentiment as sentiment_module
from hypercare_domain.sentiment import _analyzer
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

pytestmark = pytest.mark.unit

WORDS = [
    "checkout",
    "is",
    "not",
    "working",
    "never",
    "again",
    "kind",
    "of",
    "sort",
    "of",
    "the",
    "app",
    "crashed",
    "I",
    "love",
    "it",
    "but",
    "it",
    "doesn't",
    "work",
    "at",
    "all,",
    "really",
    "bad!!",
    "not",
    "bad",
    "great",
    "awesome",
    "terrible",
    "without",
    "doubt",
    "least",
    "payment",
    "failed",
    "twice",
    ":(",
    "thanks",
    "so",
    "much",
    "hate",
    "this",
    "cut",
    "the",
    "mustard",
    "yeah",
    "right",
    "never",
    "so",
    "good",
    "no",
    "nor",
    "or",
    "at",
    "least",
    "very",
    "GREAT",
    "BAD",
    "Kind",
    "OF",
    "BUT",
    "sort-of",
    "kinda",
    "nice\u2026",
    "the",
    "bomb",
    ":)",
    "\u2764",
]

TEXTS = [
    "Checkout is broken, I can't pay!!",
    "I love the new app, great job :)",
    "not bad at all, but the login never works",
    "The payment was NOT processed and I was charged twice. Terrible.",
    "kind of slow but it works",
    "",
    "  padded text, not great  ",
    "Checkout broke again \U0001f621\U0001f621 never buying here",
    "love it \u2764 but kind of buggy",
    "\u00e7a ne marche pas du tout, tr\u00e8s d\u00e9\u00e7u",
    "ALL CAPS IS BAD!!! :( :(",
    "GREAT GREAT",
    "no good, no bad, not bad, least good, at least good, very least good",
    "the app is no great or nice \u2026 and this is the bomb?? really???",
    "\u2026\u2026 kind of nice \u2026",
]


def _random_texts(n: int) -> list[str]:
    rng = random.Random(20261127)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) for _ in range(n)]


_STOCK = SentimentIntensityAnalyzer()
ALL_TEXTS = TEXTS + _random_texts(300)


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_scores_match_the_stock_analyzer(text: str) -> None:
    assert _analyzer().polarity_scores(text) == _STOCK.polarity_scores(text)


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_compound_matches_the_stock_analyzer(text: str) -> None:
    expected = _STOCK.polarity_scores(text)["compound"]
    # Twice: the second call reads the word and valence caches the first one filled.
    assert _analyzer().compound(text) == expected
    assert _analyzer().compound(text) == expected


def test_the_caches_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentiment_module, "_WORD_CACHE_SIZE", 8)
    monkeypatch.setattr(sentiment_module, "_VALENCE_CACHE_SIZE", 4)
    analyzer = sentiment_module._WindowedAnalyzer()
    for text in _random_texts(50):
        assert analyzer.compound(text) == _STOCK.polarity_scores(text)["compound"]
        # A text's new tokens are added after a clear: the bound plus the longest text at most.
        assert len(analyzer._tokens) <= 8 + 40
        assert len(analyzer._valences) <= 4
