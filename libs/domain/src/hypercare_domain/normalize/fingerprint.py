"""Fingerprints: the key that makes two reports of the same problem land on the same issue.

Alerts are keyed by what fired (alert name, component, environment). Human reports are keyed by
component and a *problem signature*: the set of problem classes their words express, so that
"Checkout is broken" and "can't complete checkout!!" agree while "checkout is slow" does not.
``docs/fingerprints.md`` documents both schemes.
"""

import re
from collections.abc import Mapping

from rapidfuzz.distance import OSA

from hypercare_domain.normalize.text import ascii_letter_words, ascii_punctuation, sha256_hex

FINGERPRINT_LENGTH = 20


def _split(words: str) -> tuple[str, ...]:
    """A word list written as one string, for tables that read better that way."""
    return tuple(words.split())


OTHER = "other"

# Multi-word expressions first; they consume their words so that "would be nice" is an idea, not praise.
_PHRASES: Mapping[str, str] = {
    "charged twice": "double_charge",
    "billed twice": "double_charge",
    "double charge": "double_charge",
    "double charged": "double_charge",
    "charged two times": "double_charge",
    "doesnt work": "fails",
    "does not work": "fails",
    "dont work": "fails",
    "not working": "fails",
    "isnt working": "fails",
    "wont work": "fails",
    "ne marche pas": "fails",
    "ne fonctionne pas": "fails",
    "funktioniert nicht": "fails",
    "geht nicht": "fails",
    "no funciona": "fails",
    "nao funciona": "fails",
    "non funziona": "fails",
    "werkt niet": "fails",
    "timed out": "slow",
    "takes forever": "slow",
    "stürzt ab": "crash",
    "missing data": "data_loss",
    "data is gone": "data_loss",
    "would be nice": "idea",
    "would love": "idea",
    "please add": "idea",
    "feature request": "idea",
    "can i": "question",
    "how do i": "question",
    "how to": "question",
    "is there a way": "question",
    # Component words (the component is already part of the fingerprint): consumed, no class.
    "sign in": "",
    "log in": "",
    "sign up": "",
}

_WORDS: Mapping[str, str] = {
    **dict.fromkeys(
        _split(
            "fail fails failed failing failure error errors broken broke breaks cant cannot unable "
            "nicht fehler kaputt erreur cassé bug buggy"
        ),
        "fails",
    ),
    **dict.fromkeys(
        _split(
            "slow slowly loading timeout timeouts hangs hanging hang stuck lag laggy sluggish freezes frozen "
            "langsam lent lento"
        ),
        "slow",
    ),
    **dict.fromkeys(_split("crash crashes crashed crashing absturz plante"), "crash"),
    **dict.fromkeys(_split("lost missing disappeared vanished deleted gone verloren"), "data_loss"),
    **dict.fromkeys(
        _split("great love awesome excellent amazing perfect fantastic nice wonderful"), "praise"
    ),
    **dict.fromkeys(_split("how where"), "question"),
    **dict.fromkeys(_split("idea feature suggestion wish"), "idea"),
    **dict.fromkeys(_split("login logon signin"), ""),
}

_FUZZY_MIN_LENGTH = 5
# Real words one edit away from a lexicon word that must not be read as that word.
_NOT_TYPOS = frozenset(_split("filed fixed later lasted listed trash clash crush brokers broker hanged"))
_FUZZY_WORDS = tuple(sorted(word for word in _WORDS if len(word) >= _FUZZY_MIN_LENGTH))
# One edit changes the length by at most one: the candidates for a word, by first letter and length, in
# _FUZZY_WORDS order.
_FUZZY_CANDIDATES: Mapping[tuple[str, int], tuple[str, ...]] = {
    (first, length): tuple(w for w in _FUZZY_WORDS if w[0] == first and abs(len(w) - length) <= 1)
    for first in {w[0] for w in _FUZZY_WORDS}
    for length in range(_FUZZY_MIN_LENGTH, max(map(len, _FUZZY_WORDS)) + 2)
}
# Longest phrase first (ties in table order), each with its words: a phrase can only occur in a text
# that contains all of its words, a set test far cheaper than the substring search.
_PHRASES_LONGEST_FIRST: tuple[tuple[str, str, frozenset[str]], ...] = tuple(
    (f" {phrase} ", problem, frozenset(phrase.split()))
    for phrase, problem in sorted(_PHRASES.items(), key=lambda item: -len(item[0]))
)
_PHRASES_BY_FIRST_WORD: Mapping[str, tuple[int, ...]] = {
    first: tuple(i for i, (needle, _, _) in enumerate(_PHRASES_LONGEST_FIRST) if needle.split()[0] == first)
    for first in {needle.split()[0] for needle, _, _ in _PHRASES_LONGEST_FIRST}
}
_LEXICON_CACHE_SIZE = 1 << 16
_LEXICON_CACHE_CHARS = 1 << 21
"""Characters of the words the lexicon cache holds at most: a producer sending unique words of thousands
of characters would otherwise fill its 65,536 entries with hundreds of megabytes."""

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_APOSTROPHE = re.compile(r"['\u2019`]")
_NON_WORD = re.compile(r"[\W\d_]+")
# For lowercased ASCII bytes: every character but a letter made a space; apostrophes are deleted instead.
_ASCII_TO_WORDS = bytes(code if code < 128 and chr(code).isalpha() else ord(" ") for code in range(256))
_ASCII_APOSTROPHES = b"'`"


def _words(text: str) -> list[str]:
    """The text's words, lowercased, without URLs, digits and punctuation."""
    original = text
    text = text.lower()
    if text.isascii() and "'" not in text and "`" not in text and "http" not in text and "www." not in text:
        # Without URLs and apostrophes these are the language guess's words, which the report's builder
        # usually has just split from the same text: shared, not split again.
        return ascii_letter_words(original)
    # _URL needs "http" or "www." literally: no non-ASCII character matches h, t, p, w or "." ignoring case.
    if "http" in text or "www." in text:
        text = _URL.sub(" ", text)
    if not text.isascii():
        # After the URLs are gone (their \S+ spans punctuation), typographic punctuation only separates
        # words, and U+2019 is an apostrophe like those _APOSTROPHE deletes.
        text = ascii_punctuation(text, "")
        if not text.isascii():
            text = _APOSTROPHE.sub("", text)
            return _NON_WORD.sub(" ", text).split()
    # For ASCII, _NON_WORD is every character but a-z: the same words with a byte table, much faster.
    return text.encode("ascii").translate(_ASCII_TO_WORDS, _ASCII_APOSTROPHES).decode("ascii").split()


def _lexicon_class(word: str) -> str | None:
    known = _WORDS.get(word)
    if known is not None:
        return known
    if len(word) < _FUZZY_MIN_LENGTH or word in _NOT_TYPOS:
        return None
    for candidate in _FUZZY_CANDIDATES.get((word[0], len(word)), ()):
        if OSA.distance(word, candidate, score_cutoff=1) <= 1:
            return _WORDS[candidate]
    return None


class _LexiconCache:
    """Word to problem class, filled on demand, emptied when it outgrows its bound.

    Launch-day vocabulary repeats, and the fuzzy match compares an unknown word with every lexicon word.
    Most words have no class: only those that have one are kept with it, and the rest are just known, so
    that a text's classes come from two set operations in C and a loop over its few classed words.
    """

    def __init__(self, limit: int) -> None:
        self._known: set[str] = set()
        self._classed: dict[str, str] = {}
        self._classed_words: set[str] = set()
        self._limit = limit
        self._chars = 0

    def classes_of(self, words: set[str]) -> set[str]:
        """The non-empty problem classes of ``words``."""
        missing = words.difference(self._known)  # iterates the words, not the cache
        if missing:
            chars = sum(map(len, missing))
            if len(self._known) + len(missing) > self._limit or self._chars + chars > _LEXICON_CACHE_CHARS:
                self._known.clear()
                self._classed.clear()
                self._classed_words.clear()
                self._chars = 0
            self._chars += chars
            for word in missing:
                problem = _lexicon_class(word)
                if problem:
                    self._classed[word] = problem
                    self._classed_words.add(word)
            self._known |= missing
        return set(map(self._classed.__getitem__, words.intersection(self._classed_words)))


_LEXICON = _LexiconCache(_LEXICON_CACHE_SIZE)


def problem_classes(text: str) -> frozenset[str]:
    """The problem classes a text expresses (``fails``, ``slow``, ``double_charge`` ...)."""
    listed = _words(text)
    words = set(listed)
    classes: set[str] = set()
    starts = words.intersection(_PHRASES_BY_FIRST_WORD)
    if starts:
        joined = " " + " ".join(listed) + " "
        consumed: set[str] = set()
        for index in sorted(i for first in starts for i in _PHRASES_BY_FIRST_WORD[first]):
            needle, problem, needed = _PHRASES_LONGEST_FIRST[index]
            if needed <= words and needle in joined:
                classes.add(problem)
                joined = joined.replace(needle, "  ")
                consumed |= needed
        # A consumed phrase's words are gone unless they also occur elsewhere in the text.
        words -= {word for word in consumed if f" {word} " not in joined}
    classes |= _LEXICON.classes_of(words)
    # Component phrases stand for the empty class: no problem.
    classes.discard("")
    return frozenset(classes)


def problem_signature(text: str) -> str:
    """A wording-robust signature of the problem a text describes.

    Lowercases, drops URLs, digits and punctuation, maps words and phrases through a small lexicon of
    problem classes (with one-edit typo tolerance for words of five letters or more) and joins the
    sorted classes with ``+``; ``other`` when no class is found.

    Args:
        text: the report's title and body.

    Returns:
        For example ``fails``, ``crash+slow`` or ``other``.
    """
    classes = problem_classes(text)
    return "+".join(sorted(classes)) if classes else OTHER


def fingerprint_alert(alertname: str, component: str, environment: str) -> str:
    """The fingerprint of an alert: the same for its firing, re-sent and resolved notifications.

    ``sha256("alert|" + alertname + "|" + component + "|" + environment)[:20]``.
    """
    return sha256_hex(f"alert|{alertname}|{component}|{environment}", FINGERPRINT_LENGTH)


def fingerprint_report(component: str, text: str) -> str:
    """The fingerprint of a human report (ticket, feedback, social post).

    ``sha256("report|" + component + "|" + problem_signature(text))[:20]``.
    """
    return sha256_hex(f"report|{component}|{problem_signature(text)}", FINGERPRINT_LENGTH)


def fingerprint_source_item(source_format: str, source_ref: str) -> str:
    """The fingerprint of a bare lifecycle event that names only its source item.

    Used for a PagerDuty acknowledge or resolve without a payload: it cannot know the alert name, so
    triage joins it to its issue by ``source_ref`` rather than by fingerprint.
    ``sha256("item|" + source_format + "|" + source_ref)[:20]``.
    """
    return sha256_hex(f"item|{source_format}|{source_ref}", FINGERPRINT_LENGTH)
