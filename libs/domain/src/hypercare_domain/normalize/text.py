"""Text helpers: bounded, redacted titles and bodies, safe links, bounded ids and a language guess."""

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import cast

from hypercare_contracts import Link
from hypercare_contracts.common import KEY_MAX
from hypercare_contracts.normalized import TEXT_MAX, TITLE_MAX

from hypercare_domain.normalize.redact import redact

ELLIPSIS = "\u2026"
LABEL_VALUE_MAX = 256
LABELS_MAX = 64
LINK_TEXT_MAX = 200
ID_PART_MAX = 64
_PRECUT_FACTOR = 4
_SHORT_LABEL = 64

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_READABLE_ID = re.compile(r"[A-Za-z0-9._\-]+")
_WORD = re.compile(r"[^\W\d_]+")
# For ASCII bytes: letters lowercased, every other character a space (bytes.translate is a table lookup per
# byte, many times faster than str.translate with a dict).
_ASCII_LOWER_LETTERS = bytes(
    ord(chr(code).lower()) if code < 128 and chr(code).isalpha() else ord(" ") for code in range(256)
)
# Typographic punctuation common in pasted text, and the ellipsis truncate() appends. None of them is a
# letter, digit, underscore, apostrophe or case-changing character: for the word patterns of this package
# each separates words as a space does, so a text whose only non-ASCII characters are these can take the
# ASCII paths once they are spaces. U+2019 (the typographic apostrophe) is left to the caller.
SEPARATOR_PUNCTUATION = "\u2026\u2018\u201c\u201d\u2013\u2014\u00ab\u00bb\u00a0"
TYPOGRAPHIC_APOSTROPHE = "\u2019"
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _split(words: str) -> tuple[str, ...]:
    """A word list written as one string, for tables that read better that way."""
    return tuple(words.split())


def sha256_hex(text: str, length: int = 24) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def reference_value(value: str) -> str:
    """A source-side identifier as a report's references keep it: as it came when it fits the contract's
    bound, else its hash (the same identifier gives the same hash, so its source item still matches)."""
    return value if len(value) <= KEY_MAX else f"sha256:{sha256_hex(value, 64)}"


def id_part(value: str) -> str:
    """A source id as it may appear inside an event id: kept when short and plain, hashed otherwise."""
    if len(value) <= ID_PART_MAX and _READABLE_ID.fullmatch(value):
        return value
    return sha256_hex(value)


def compact_time(moment: datetime) -> str:
    """A UTC timestamp in basic ISO 8601 form (``20240501T101500Z``), for ids."""
    utc = moment.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
    return utc.strftime("%Y%m%dT%H%M%S") + fraction + "Z"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def ascii_punctuation(text: str, apostrophe: str) -> str:
    """``text`` with :data:`SEPARATOR_PUNCTUATION` made spaces and U+2019 replaced by ``apostrophe``.

    Word splitting that treats those characters as separators (and U+2019 as ``apostrophe`` says) gets
    the same words from the result; it is often plain ASCII, for which str methods are much faster.
    """
    if TYPOGRAPHIC_APOSTROPHE in text:
        text = text.replace(TYPOGRAPHIC_APOSTROPHE, apostrophe)
    for char in SEPARATOR_PUNCTUATION:
        if char in text:
            text = text.replace(char, " ")
    return text


def _precut(text: str, limit: int) -> str:
    """``text`` cut at a whitespace well beyond ``limit``, before redaction.

    Redaction then never works on megabytes, and never sees half a number: a card number cut in two
    would no longer pass the Luhn check and slip through as plain digits.
    """
    budget = limit * _PRECUT_FACTOR
    if len(text) <= budget:
        return text
    return text[:budget].rsplit(None, 1)[0]


def _without_control(text: str, replacement: str) -> str:
    """``text`` with control characters replaced; most text has none, and a search is cheaper than a sub."""
    return _CONTROL.sub(replacement, text) if _CONTROL.search(text) else text


def _one_line(text: str) -> str:
    """Whitespace runs made one space, ends stripped: ``\\s`` and ``str.split()`` agree on whitespace."""
    return " ".join(text.split())


def clean_title(text: str, fallback: str) -> str:
    """A one-line, redacted title of at most ``TITLE_MAX`` characters (``fallback`` when empty)."""
    line = _one_line(_without_control(_precut(text, TITLE_MAX), " "))
    return truncate(redact(line or fallback), TITLE_MAX)


def clean_text(text: str) -> str:
    """A redacted body of at most ``TEXT_MAX`` characters, line breaks kept."""
    body = _without_control(_precut(text, TEXT_MAX).replace("\r\n", "\n"), "").strip()
    return truncate(redact(body), TEXT_MAX)


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (titles for sources that have only a body)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def make_link(href: str | None, text: str = "") -> Link | None:
    """A link for a person to follow, or None when ``href`` is empty or not http(s)."""
    if not href or not href.lower().startswith(("https://", "http://")):
        return None
    return Link(href=href.strip(), text=truncate(redact(_one_line(text)), LINK_TEXT_MAX))


def links_of(candidates: Iterable[tuple[str | None, str]]) -> list[Link]:
    """The valid links among (href, text) pairs, first occurrence of each href kept."""
    seen: set[str] = set()
    links: list[Link] = []
    for href, text in candidates:
        link = make_link(href, text)
        if link is not None and link.href not in seen:
            seen.add(link.href)
            links.append(link)
    return links


def clean_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels with redacted, bounded values, sorted by key and at most ``LABELS_MAX`` of them."""
    return {key[:100]: _label_value(value) for key, value in sorted(labels.items())[:LABELS_MAX]}


def _label_value(value: str) -> str:
    return _short_label_value(value) if len(value) <= _SHORT_LABEL else _clean_label_value(value)


def _clean_label_value(value: str) -> str:
    return truncate(redact(_without_control(value, "")), LABEL_VALUE_MAX)


# Label values (platforms, versions, screens, severities) repeat from report to report.
_short_label_value = lru_cache(maxsize=1 << 14)(_clean_label_value)


def scalar_text(value: object) -> str | None:
    """A JSON scalar as label text; None for objects, arrays and null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def scalar_labels(prefix: str, values: Mapping[str, object] | None) -> dict[str, str]:
    """The scalar entries of ``values`` as ``<prefix>.<key>`` labels; nested values are dropped."""
    labels: dict[str, str] = {}
    for key, value in (values or {}).items():
        text = scalar_text(value)
        if text is not None:
            labels[f"{prefix}.{key}"] = text
    return labels


def pseudonym(identifier: str | None) -> str | None:
    """A reporter id safe to forward: an e-mail address is replaced by ``sha256(lowercased email)[:16]``.

    Public handles such as ``@shopper`` are kept as they are.
    """
    if identifier is None or not identifier.strip():
        return None
    value = identifier.strip()
    if _EMAIL_LIKE.fullmatch(value):
        return sha256_hex(value.lower(), 16)
    return value[:200]


_STOP_WORDS: Mapping[str, frozenset[str]] = {
    "en": frozenset(
        _split("the and is it to of in not this that with my for was are have you can on but when i")
    ),
    "de": frozenset(
        _split("der die das und ist nicht ich mit ein eine es zu bei kann den auf wenn mein sie")
    ),
    "fr": frozenset(_split("le la les et est pas je ne une un des avec pour dans mon ce qui sur quand")),
    "es": frozenset(_split("el la los las y es no que con una un por para mi se del cuando pero muy")),
    "pt": frozenset(_split("o a os as e é não que com uma um por para meu se do da quando mas muito")),
    "it": frozenset(_split("il lo la gli le e è non che con una un per mio si del della quando ma molto")),
    "nl": frozenset(_split("de het een en is niet ik met van voor op dat mijn bij als maar ook werkt")),
}
_MIN_HITS = 2
_ANY_STOP_WORD = frozenset().union(*_STOP_WORDS.values())


# Each stop word's hits as one integer: a _POINT_BITS-bit field per language (in _STOP_WORDS order) holding
# 1 where the word is a stop word of that language. Adding these integers counts every language's hits in
# one C-level sum; a field cannot overflow, as no text holds 2**_POINT_BITS words.
_POINT_BITS = 32
_POINT_MASK = (1 << _POINT_BITS) - 1
_POINT_VECTOR: Mapping[str, int] = {
    word: sum(1 << (_POINT_BITS * index) for index, stops in enumerate(_STOP_WORDS.values()) if word in stops)
    for word in _ANY_STOP_WORD
}
_LANGUAGE_CODES = tuple(_STOP_WORDS)
_SENTENCE_END = ". "
_PIECE_CACHE_SIZE = 1 << 14
_PIECE_MAX = 500
"""Distinct pieces of text of at most _PIECE_MAX characters (see _ascii_pieces) remembered with their words
and stop-word points."""
_PIECES: dict[str, tuple[list[str], int]] = {}
# The text last cut by _ascii_pieces and its pieces: one report's language guess and fingerprint read the
# same text one after the other. One slot, replaced on every miss.
_LAST_PIECES: list[tuple[str, list[tuple[list[str], int]]]] = [("", [])]


def _ascii_piece(piece: str) -> tuple[list[str], int]:
    """The lowercased letter runs of an ASCII ``piece`` and the sum of their _POINT_VECTOR values."""
    words = piece.encode("ascii").translate(_ASCII_LOWER_LETTERS).decode("ascii").split()
    return words, sum(map(_POINT_VECTOR.__getitem__, filter(_ANY_STOP_WORD.__contains__, words)))


def _ascii_pieces(text: str) -> list[tuple[list[str], int]]:
    """:func:`_ascii_piece` of each sentence-like piece of the ASCII ``text``, in order.

    No letter run crosses ". ", so the text's words are its pieces' words one after the other, and its
    points their sum. Reports are mostly new texts made of recurring sentences: the pieces are looked up
    in a bounded cache rather than split again.
    """
    last_text, last_pieces = _LAST_PIECES[0]
    if text == last_text:
        return last_pieces
    pieces = text.split(_SENTENCE_END)
    known = _PIECES
    found = list(map(known.get, pieces))
    if None in found:  # some pieces seen for the first time (often the one holding the title)
        if len(known) + len(pieces) > _PIECE_CACHE_SIZE:
            known.clear()
        for index, entry in enumerate(found):
            if entry is None:
                piece = pieces[index]
                found[index] = split = _ascii_piece(piece)
                # Only sentence-sized pieces recur; keeping long ones would only grow the cache's memory.
                if len(piece) <= _PIECE_MAX:
                    known[piece] = split
    complete = cast("list[tuple[list[str], int]]", found)  # no None left
    _LAST_PIECES[0] = (text, complete)
    return complete


def ascii_letter_words(text: str) -> list[str]:
    """The lowercased runs of ASCII letters in the ASCII ``text``.

    Both the language guess and the problem signature (for a text without URLs or apostrophes) read
    exactly these words, and a report's builder hands both the same text in turn.
    """
    return list(chain.from_iterable(map(itemgetter(0), _ascii_pieces(text))))


def guess_language(text: str) -> str | None:
    """A deterministic language guess over en/de/fr/es/pt/it/nl from stop words.

    Returns:
        The ISO 639-1 code with clearly the most stop-word hits (at least two, and more than any
        other language), or None when the text is too short or ambiguous to tell.
    """
    if not text.isascii():
        # U+2019 is no letter for _WORD either: a separator like the others.
        text = ascii_punctuation(text, " ")
    if text.isascii():
        # For ASCII, _WORD is a run of a-z/A-Z: the same words with a byte table, several times faster.
        total = sum(map(itemgetter(1), _ascii_pieces(text)))
    else:
        words = map(str.lower, _WORD.findall(text))
        total = sum(map(_POINT_VECTOR.__getitem__, filter(_ANY_STOP_WORD.__contains__, words)))
    if not total:
        return None
    points = [(total >> (_POINT_BITS * index)) & _POINT_MASK for index in range(len(_LANGUAGE_CODES))]
    best = max(points)
    # The clear winner has at least two hits and no other language as many; ties (best == second) mean None.
    if best < _MIN_HITS or points.count(best) > 1:
        return None
    return _LANGUAGE_CODES[points.index(best)]


def normalize_language(tag: str | None) -> str | None:
    """The primary subtag of a BCP 47 language tag, lowercased (``en-US`` becomes ``en``)."""
    if not tag or not tag.strip():
        return None
    primary = re.split(r"[-_]", tag.strip())[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None
