"""The windowed VADER analyzer scores exactly like the stock one (it only reads less)."""

import random

import pytest
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
]


def _random_texts(n: int) -> list[str]:
    rng = random.Random(20261127)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) for _ in range(n)]


@pytest.mark.parametrize("text", TEXTS + _random_texts(300))
def test_scores_match_the_stock_analyzer(text: str) -> None:
    assert _analyzer().polarity_scores(text) == SentimentIntensityAnalyzer().polarity_scores(text)
