"""Personal data redaction: e-mail addresses, IBANs, payment cards and phone numbers become placeholders.

Passes run in that order so that a later, looser pattern never sees what an earlier, stricter one
recognised (an IBAN's digit groups would otherwise look like a card or a phone number). Numbers that
identify things rather than people (order, ticket, invoice numbers) should survive: cards must pass the
Luhn check and start like a card (2-6), IBANs must pass the mod-97 check, and phone numbers need a ``+``
country code, a leading ``0`` trunk prefix, an area code in parentheses or the ``555-123-4567`` shape.
See ``docs/fingerprints.md`` ("Redaction") for the trade-offs.
"""

import re
from functools import lru_cache

EMAIL = "[email]"
PHONE = "[phone]"
CARD = "[card]"
IBAN = "[iban]"

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", re.IGNORECASE)
_DIGIT_GROUPS = re.compile(r"(?<!\w)\d+(?:[ -]\d+)*(?!\w)")
# Possessive quantifiers (``++``, ``{m,n}+``) keep every alternative linear: digits are never
# re-split between groups, so a hostile run of digits cannot make the engine backtrack.
_PHONE = re.compile(
    r"""
    (?<![\w+])
    (?:
        \+\d{1,3}+(?:[ .\-]?+\(?+\d{1,5}+\)?+){1,6}+            # +49 30 1234567, +1 (555) 123-4567
      | \(\d{2,5}+\)[ .\-]?+\d{2,5}+(?:[ .\-/]?+\d{2,5}+){0,3}+  # (030) 1234567
      | 0\d{1,4}+(?:[ .\-/]\d{2,8}+){1,4}+                       # 030 1234567, 01 23 45 67 89
      | \d{3}[ .\-]\d{3}[ .\-]\d{4}                              # 555-123-4567
    )
    (?![\w])
    """,
    re.VERBOSE,
)
_DIGIT = re.compile(r"\d")
_DATE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_NUMBER_LABEL = re.compile(r"(?:order|invoice|ticket|case|ref|reference|id|no|nr|#)\.?\s*[#:]?\s*$", re.I)
# Short texts (label values, screens, versions) repeat from report to report: their redaction is cached.
_SHORT, _SHORT_CACHE_SIZE = 64, 1 << 14
_IBAN_MIN, _CARD_MIN, _CARD_MAX, _PHONE_MIN, _PHONE_MAX = 15, 13, 19, 7, 15


def _iban_valid(candidate: str) -> bool:
    rearranged = candidate[4:] + candidate[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _redact_iban(match: re.Match[str]) -> str:
    text = match.group()
    # The pattern is greedy; try the longest prefix that ends on a group boundary and validates.
    ends = [i + 1 for i, ch in enumerate(text) if ch != " " and (i + 1 == len(text) or text[i + 1] == " ")]
    for end in reversed(ends):
        compact = text[:end].replace(" ", "").upper()
        if len(compact) >= _IBAN_MIN and compact[:2].isalpha() and _iban_valid(compact):
            return IBAN + text[end:]
    return text


def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum used by payment card numbers."""
    total = 0
    for index, ch in enumerate(reversed(digits)):
        value = int(ch)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_at(groups: list[str], start: int) -> int | None:
    """End index (exclusive) of the longest run of groups from ``start`` that is a card number."""
    for end in range(min(len(groups), start + _CARD_MAX), start, -1):
        digits = "".join(groups[start:end])
        if _CARD_MIN <= len(digits) <= _CARD_MAX and digits[0] in "23456" and luhn_valid(digits):
            return end
    return None


def _redact_cards(match: re.Match[str]) -> str:
    text = match.group()
    groups = re.split(r"([ -])", text)
    values, separators = groups[0::2], groups[1::2]
    out: list[str] = []
    index = 0
    while index < len(values):
        end = _card_at(values, index)
        if end is None:
            out.append(values[index])
            end = index + 1
        else:
            out.append(CARD)
        if end < len(values):
            out.append(separators[end - 1])
        index = end
    return "".join(out)


def _redact_phone(match: re.Match[str]) -> str:
    text = match.group()
    digits = sum(ch.isdigit() for ch in text)
    if not _PHONE_MIN <= digits <= _PHONE_MAX:
        return text
    if not text.startswith("+"):
        if _DATE.fullmatch(text) or _IPV4.fullmatch(text):
            return text
        if _NUMBER_LABEL.search(match.string[max(0, match.start() - 12) : match.start()]):
            return text
    return PHONE


def _has_digit(text: str) -> bool:
    """Whether ``\\d`` matches anywhere in ``text``; for ASCII text, ten substring scans are much cheaper."""
    if any(map(text.__contains__, "0123456789")):
        return True
    return not text.isascii() and _DIGIT.search(text) is not None


def redact(text: str) -> str:
    """Replace personal data in free text with placeholders.

    E-mail addresses become ``[email]``, IBANs (mod-97 valid) ``[iban]``, payment card numbers of 13 to
    19 digits, optionally grouped with spaces or dashes, that pass the Luhn check ``[card]``, and phone
    numbers of 7 to 15 digits ``[phone]``. Everything else is left as it was, so order and ticket numbers
    stay readable.

    Args:
        text: any text that may leave the service (report fields, log values).

    Returns:
        The text with personal data replaced.
    """
    if not text:
        return text
    if len(text) <= _SHORT:
        return _redact_short(text)
    return _redact(text)


@lru_cache(maxsize=_SHORT_CACHE_SIZE)
def _redact_short(text: str) -> str:
    return _redact(text)


def _redact(text: str) -> str:
    # Most text has no "@" and no digit; every pattern below needs one of them, so skip what cannot match.
    if "@" in text:
        text = _EMAIL.sub(EMAIL, text)
    if not _has_digit(text):
        return text
    text = _IBAN.sub(_redact_iban, text)
    text = _DIGIT_GROUPS.sub(_redact_cards, text)
    return _PHONE.sub(_redact_phone, text)
