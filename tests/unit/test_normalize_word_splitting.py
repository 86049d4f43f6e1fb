"""The fast word splitting of the language guess and the problem signature gets the regex paths' words."""

import random
import re

import pytest
from hypercare_domain.normalize.fingerprint import _words
from hypercare_domain.normalize.text import (
    _STOP_WORDS,
    SEPARATOR_PUNCTUATION,
    TYPOGRAPHIC_APOSTROPHE,
    ascii_punctuation,
    guess_language,
)

pytestmark = pytest.mark.unit

# The reference: the patterns the fast paths must agree with, applied to any text.
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_APOSTROPHE = re.compile(r"['\u2019`]")
_NON_WORD = re.compile(r"[\W\d_]+")
_LETTERS = re.compile(r"[^\W\d_]+")

PIECES = [
    "the",
    "checkout",
    "is",
    "not",
    "working",
    "can't",
    "doesn\u2019t",
    "don`t",
    "\u2026",
    "\u201cquoted\u201d",
    "\u2018single\u2019",
    "\u2013",
    "\u2014",
    "\u00abguillemets\u00bb",
    "no\u00a0break",
    "https://shop.example.com/checkout?x=1\u2026",
    "WWW.Example.com/a",
    "http",
    "www.",
    "und",
    "die",
    "est",
    "pas",
    "n\u00e3o",
    "\u00e9",
    "caf\u00e9",
    "\u00dcberweisung",
    "2x",
    "order_42",
    "A1b2",
    "!!",
    "?",
    "\n",
    "\t",
    "  ",
]


def _texts(count: int) -> list[str]:
    rng = random.Random(20261127)
    texts = []
    for _ in range(count):
        joiners = [" ", "", "\n", "\u2026", "\u2019"]
        texts.append("".join(rng.choice(PIECES) + rng.choice(joiners) for _ in range(rng.randint(0, 25))))
    return texts


TEXTS = _texts(400)


def test_separator_punctuation_only_separates() -> None:
    for char in SEPARATOR_PUNCTUATION:
        assert _NON_WORD.fullmatch(char)
        assert not _APOSTROPHE.match(char)
        assert char.lower() == char
        assert not char.isascii()
    assert _APOSTROPHE.fullmatch(TYPOGRAPHIC_APOSTROPHE)


def test_ascii_punctuation_makes_separators_spaces() -> None:
    assert ascii_punctuation("a\u2026b\u2019c \u201cd\u201d", "") == "a bc  d "
    assert ascii_punctuation("don\u2019t", " ") == "don t"


@pytest.mark.parametrize("text", TEXTS)
def test_problem_words_match_the_patterns(text: str) -> None:
    lowered = _URL.sub(" ", text.lower())
    assert _words(text) == _NON_WORD.sub(" ", _APOSTROPHE.sub("", lowered)).split()


def _reference_language(text: str) -> str | None:
    words = [word.lower() for word in _LETTERS.findall(text)]
    points = dict.fromkeys(_STOP_WORDS, 0)
    for word in words:
        for code, stops in _STOP_WORDS.items():
            points[code] += word in stops
    scores = sorted(((points[code], code) for code in points), key=lambda item: (-item[0], item[1]))
    (best, code), (second, _) = scores[0], scores[1]
    return None if best < 2 or best == second else code


@pytest.mark.parametrize("text", TEXTS)
def test_language_guess_matches_the_pattern(text: str) -> None:
    assert guess_language(text) == _reference_language(text)


def _sentence_texts(count: int) -> list[str]:
    """Texts of recurring sentence-like pieces joined by ". " (the pieces the ASCII paths cache)."""
    rng = random.Random(20261128)
    pieces = ["", ".", "..", "It's broken", "the checkout is not working", "das ist nicht", "I can't log in"]
    pieces += ["les pas", "don`t", "www.example.com/a. b", "http://x.example/.", "2x. 3", "x" * 3]
    joiners = [". ", ".  ", " . ", ".", "\n"]
    return [
        "".join(rng.choice(pieces) + rng.choice(joiners) for _ in range(rng.randint(0, 12)))
        for _ in range(count)
    ]


SENTENCE_TEXTS = _sentence_texts(300)


@pytest.mark.parametrize("text", SENTENCE_TEXTS)
def test_cached_pieces_give_the_patterns_words(text: str) -> None:
    lowered = _URL.sub(" ", text.lower())
    assert _words(text) == _NON_WORD.sub(" ", _APOSTROPHE.sub("", lowered)).split()
    assert guess_language(text) == _reference_language(text)
    # Asked again, the cached pieces and the one-slot cache answer the same.
    assert _words(text) == _NON_WORD.sub(" ", _APOSTROPHE.sub("", lowered)).split()
    assert guess_language(text) == _reference_language(text)
