"""Text helpers: bounded, redacted titles and bodies, safe links, bounded ids and a language guess."""

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache

from hypercare_contracts import Link
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
_LANGUAGES_OF: Mapping[str, tuple[str, ...]] = {
    word: tuple(code for code, stops in _STOP_WORDS.items() if word in stops) for word in _ANY_STOP_WORD
}


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
        words = text.encode("ascii").translate(_ASCII_LOWER_LETTERS).decode("ascii").split()
    else:
        words = list(map(str.lower, _WORD.findall(text)))
    if not words:
        return None
    counts = Counter(filter(_ANY_STOP_WORD.__contains__, words))
    points = dict.fromkeys(_STOP_WORDS, 0)
    for word, count in counts.items():
        for code in _LANGUAGES_OF[word]:
            points[code] += count
    scores = sorted(((points[code], code) for code in _STOP_WORDS), key=lambda item: (-item[0], item[1]))
    (best, code), (second, _) = scores[0], scores[1]
    if best < _MIN_HITS or best == second:
        return None
    return code


def normalize_language(tag: str | None) -> str | None:
    """The primary subtag of a BCP 47 language tag, lowercased (``en-US`` becomes ``en``)."""
    if not tag or not tag.strip():
        return None
    primary = re.split(r"[-_]", tag.strip())[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None
