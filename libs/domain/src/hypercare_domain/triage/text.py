"""Text helpers: phrase matching and the wording-robust form used for similarity.

The similarity form folds a small multilingual vocabulary of problem words onto one English token each
("kann nicht bezahlen", "payment failed" and "can't pay" all become ``fail pay``) so that paraphrases
and the most common German, Spanish and French wordings compare as equal. It is deliberately small:
typos are left to the fuzzy comparison, and anything rarer simply does not merge by similarity.
"""

import re
import unicodedata
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

_QUOTE_CHARS = ("\u2019", "\u2018", "\u00b4", "`")
"""Quotes :func:`fold` straightens to ``'``."""

# Multi-word phrases first (longest first when applied), then single words.
_PHRASES: dict[str, tuple[str, ...]] = {
    "fail": (
        "not working",
        "doesn't work",
        "does not work",
        "didn't work",
        "won't work",
        "isn't working",
        "is down",
        "went down",
        "keeps failing",
        "funktioniert nicht",
        "geht nicht",
        "no funciona",
        "no anda",
        "ne fonctionne pas",
        "ne marche pas",
        "marche pas",
    ),
    "login": ("log in", "log-in", "sign in", "sign-in", "logged out", "iniciar sesión", "iniciar sesion"),
    "signup": ("sign up", "sign-up", "create account", "registrieren"),
    "checkout": ("check out", "check-out"),
    "doublecharge": (
        "charged twice",
        "double charged",
        "double charge",
        "charged two times",
        "billed twice",
        "zweimal abgebucht",
        "doppelt abgebucht",
        "doppelt belastet",
        "cobrado dos veces",
        "cobro doble",
        "débité deux fois",
        "debite deux fois",
        "prélevé deux fois",
    ),
    "slow": ("takes forever", "very slow", "too slow"),
}
_WORDS: dict[str, tuple[str, ...]] = {
    "fail": (
        "fail",
        "fails",
        "failed",
        "failing",
        "failure",
        "broken",
        "broke",
        "error",
        "errors",
        "cannot",
        "can't",
        "cant",
        "unable",
        "impossible",
        "kaputt",
        "fehler",
        "fehlgeschlagen",
        "falla",
        "fallo",
        "erreur",
        "échec",
        "echec",
        "outage",
        "down",
        "500",
        "502",
        "503",
    ),
    "pay": (
        "pay",
        "paying",
        "payment",
        "payments",
        "paid",
        "zahlen",
        "bezahlen",
        "zahlung",
        "bezahlung",
        "pagar",
        "pago",
        "pagos",
        "payer",
        "paiement",
        "paiements",
    ),
    "checkout": ("checkout", "kasse", "caisse", "caja"),
    "login": ("login", "logon", "signin", "anmelden", "anmeldung", "einloggen", "connexion", "connecter"),
    "crash": (
        "crash",
        "crashes",
        "crashed",
        "crashing",
        "absturz",
        "abgestürzt",
        "stürzt",
        "se cierra",
        "cierra",
        "plante",
        "planté",
    ),
    "slow": ("slow", "slowly", "lag", "laggy", "timeout", "timeouts", "langsam", "lento", "lent", "lente"),
    "charge": ("charge", "charged", "charges", "billed", "abgebucht", "belastet", "cobrado", "débité"),
    "twice": ("twice", "double", "doubled", "zweimal", "doppelt", "dos veces", "deux fois"),
    "password": ("password", "passwort", "contraseña", "contrasena", "mot de passe"),
    "card": ("card", "karte", "kreditkarte", "tarjeta", "carte"),
}
_STOPWORDS = frozenset(
    # One string reads better than a hundred one-word lines.
    (  # noqa: SIM905
        "a an the i im i'm my me we our you your it its it's is are was were be been am to of in on at for"
        " and or but with from this that there when so just again now still any some please help hi hello"
        " thanks thank get got getting keep keeps trying try tried can could would will do does did have"
        " has had not no der die das ich mein meine ist und oder nicht bei beim mit zu ein eine el la los"
        " las de del en y o mi es no se un una le les des du et je mon ma est pas avec pour kann puedo peux"
        " ne"
    ).split()
)
_NON_WORD = re.compile(r"[^\w'\s]+")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def name_matches(name: str, pattern: str) -> bool:
    """``fnmatchcase(name, pattern)``, remembered: routes and windows test the same few component
    names against the same globs for every report."""
    return fnmatchcase(name, pattern)


def fold(text: str) -> str:
    """Lower-case, Unicode-normalized text with straight quotes and single spaces."""
    # str.split() and the regex \s agree on what whitespace is; split and join is the faster of the two.
    if text.isascii():
        # NFKC leaves ASCII unchanged, and the backtick is its only quote to straighten.
        return " ".join(text.replace("`", "'").lower().split())
    # Most texts are already NFKC, which the quick check tells for a fraction of normalizing; and a
    # str.translate with a table costs tens of microseconds on a non-ASCII text, the replaces under one.
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    for quote in _QUOTE_CHARS:
        text = text.replace(quote, "'")
    return " ".join(text.lower().split())


@lru_cache(maxsize=2048)
def phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of ``phrases`` on word boundaries."""
    alternatives = sorted((fold(phrase) for phrase in phrases), key=len, reverse=True)
    body = "|".join(r"\s+".join(re.escape(word) for word in alt.split(" ")) for alt in alternatives)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def find_phrase(text: str, phrases: tuple[str, ...]) -> str | None:
    """The first phrase of ``phrases`` found in ``text`` (as written there), or None."""
    found = phrase_pattern(phrases).search(fold(text))
    return found.group(0) if found else None


_WORD = re.compile(r"\w+")
_ASCII_WORD_BREAKS = str.maketrans(
    {chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")}
)
"""ASCII characters outside ``\\w`` -> space: splitting after it gives the ``\\w+`` runs of an ASCII text."""
_ASCII_TOKEN_BREAKS = str.maketrans(
    {chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) in "_' ")}
)
"""The ASCII characters :data:`_NON_WORD` replaces (whitespace aside, which a folded text has as single spaces)."""


@dataclass(frozen=True)
class FoldedText:
    """A text passed through :func:`fold`, with what the phrase pre-checks need of it."""

    text: str
    ascii: bool
    words: frozenset[str]
    """Its runs of word characters (``\\w+``) when it is ASCII (the only case that uses them)."""

    @classmethod
    def of(cls, text: str) -> "FoldedText":
        """Fold ``text`` once for every phrase lookup and signature of it."""
        folded = fold(text)
        plain = folded.isascii()
        return cls(
            folded, plain, frozenset(folded.translate(_ASCII_WORD_BREAKS).split()) if plain else frozenset()
        )


@lru_cache(maxsize=1024)
def _has_ascii_match(char: str) -> bool:
    return any(re.fullmatch(re.escape(char), chr(code), re.IGNORECASE) for code in range(128))


def _may_match_ascii(needle: str) -> bool:
    """Whether :func:`phrase_pattern` of this folded phrase could match inside an ASCII text: only if
    every character has an ASCII character it matches case-insensitively (asked of ``re`` itself)."""
    return all(_has_ascii_match(char) for char in needle if not char.isspace())


@dataclass(frozen=True)
class PhraseSet:
    """Phrases matched as one :func:`phrase_pattern`, reduced per text to the ones that can match.

    On an ASCII folded text (lower case, single spaces) an ASCII phrase matches only where it occurs
    as a plain substring, and only if its first run of word characters is a whole word of the text
    (the pattern requires no word character before or after the phrase). Leaving the other phrases out
    of the alternation gives the same matches (alternatives keep their order) for a fraction of the
    work. Texts or phrases with other characters keep every phrase: case-insensitive matching of
    non-ASCII characters knows more than a substring test.
    """

    phrases: tuple[str, ...]
    needles: tuple[str, ...]
    """The folded phrases."""
    by_word: dict[str, tuple[int, ...]]
    """ASCII phrases that start with a word character, by that first word."""
    first_words: frozenset[str]
    """The keys of ``by_word`` (intersecting two sets walks the smaller one)."""
    checked: tuple[int, ...]
    """Other ASCII phrases (a substring test decides)."""
    kept: tuple[int, ...]
    """Non-ASCII phrases that case-insensitive matching could still find in an ASCII text (such as
    one with a dotless i, U+0131, which matches ``i``): always in the pattern. The other non-ASCII
    phrases cannot match an ASCII text at all."""

    @classmethod
    def of(cls, phrases: tuple[str, ...]) -> "PhraseSet":
        """Index ``phrases`` (in their order)."""
        needles = tuple(fold(phrase) for phrase in phrases)
        by_word: dict[str, list[int]] = {}
        checked: list[int] = []
        kept: list[int] = []
        for index, needle in enumerate(needles):
            first = _WORD.match(needle)
            if not needle.isascii():
                if _may_match_ascii(needle):
                    kept.append(index)
            elif first is None:
                checked.append(index)
            else:
                by_word.setdefault(first.group(0), []).append(index)
        return cls(
            phrases,
            needles,
            {word: tuple(found) for word, found in by_word.items()},
            frozenset(by_word),
            tuple(checked),
            tuple(kept),
        )

    def pattern_for(self, folded: FoldedText) -> tuple[re.Pattern[str], int] | None:
        """The pattern of the phrases that can match in ``folded``, and the first position a match
        can start at (None: no phrase can match)."""
        if not folded.ascii:
            return phrase_pattern(self.phrases), 0
        text, needles = folded.text, self.needles
        # Asked for every phrase group of every report, and most texts have none of a group's first
        # words: the common case builds nothing (the order ``chosen`` is filled in does not matter).
        chosen: dict[int, int] = dict.fromkeys(self.kept, 0) if self.kept else {}
        for index in self.checked:
            at = text.find(needles[index])
            if at >= 0:
                chosen[index] = at
        for word in folded.words & self.first_words:
            for index in self.by_word[word]:
                at = text.find(needles[index])
                if at >= 0:
                    chosen[index] = at
        if not chosen:
            return None
        # A match of an ASCII phrase is an occurrence of it, so none starts before the first one; the
        # pattern's look-behind still sees the character before a later start position.
        pattern = phrase_pattern(tuple(self.phrases[index] for index in sorted(chosen)))
        return pattern, min(chosen.values())


@dataclass(frozen=True)
class PhraseMatcher:
    """Finds, for each of several named phrase groups, the first phrase of the group in a folded text.

    Same answer as :func:`find_phrase` per group; the text is folded once by the caller, and each
    group's pattern is reduced to the phrases that can occur in the text (see :class:`PhraseSet`).
    """

    groups: tuple[tuple[str, PhraseSet], ...]
    """(name, phrases), in name order."""

    def find(self, folded: FoldedText) -> dict[str, str]:
        """Group name -> the first phrase found (as written in the folded text), in group name order."""
        found: dict[str, str] = {}
        for name, phrases in self.groups:
            reduced = phrases.pattern_for(folded)
            hit = reduced[0].search(folded.text, reduced[1]) if reduced is not None else None
            if hit is not None:
                found[name] = hit.group(0)
        return found


@lru_cache(maxsize=64)
def phrase_matcher(groups: tuple[tuple[str, tuple[str, ...]], ...]) -> PhraseMatcher:
    """The matcher of ``(name, phrases)`` groups, checked in name order (built once per policy)."""
    return PhraseMatcher(tuple((name, PhraseSet.of(phrases)) for name, phrases in sorted(groups)))


@lru_cache(maxsize=1)
def _canonical_maps() -> tuple[PhraseSet, dict[str, str], dict[str, str]]:
    phrase_to = {fold(p): canon for canon, phrases in _PHRASES.items() for p in phrases}
    word_to = {fold(w): canon for canon, words in _WORDS.items() for w in words if " " not in w}
    phrase_to.update({fold(w): canon for canon, words in _WORDS.items() for w in words if " " in w})
    return PhraseSet.of(tuple(phrase_to)), phrase_to, word_to


def signature_tokens(text: str) -> list[str]:
    """The wording-robust tokens of ``text``: folded, synonyms mapped, stop words dropped, sorted."""
    return folded_signature_tokens(FoldedText.of(text))


def folded_signature_tokens(folded: FoldedText) -> list[str]:
    """:func:`signature_tokens` of a text already folded."""
    phrases, phrase_to, word_to = _canonical_maps()
    text = folded.text
    reduced = phrases.pattern_for(folded)
    if reduced is None and folded.ascii and "'" not in text:
        # Nothing to replace and no quote (the only character a token keeps that a word does not): the
        # tokens are the text's words, which FoldedText.of already split. About half of all reports.
        return sorted({word_to.get(word, word) for word in folded.words - _STOPWORDS})
    if reduced is not None:
        pattern, start = reduced
        # pattern.sub over text[start:], without hiding text[start - 1] from the look-behind.
        parts: list[str] = []
        done = 0
        for found in pattern.finditer(text, start):
            parts += (text[done : found.start()], f" {phrase_to[_SPACES.sub(' ', found.group(0))]} ")
            done = found.end()
        text = "".join((*parts, text[done:]))
    spaced = text.translate(_ASCII_TOKEN_BREAKS) if folded.ascii else _NON_WORD.sub(" ", text)
    words = set(spaced.split())
    if "'" in spaced:  # most texts have no quote: stripping each word of none cost more than the rest
        words = {word.strip("'") for word in words}
    words.difference_update(_STOPWORDS, ("",))
    return sorted({word_to.get(word, word) for word in words})


def signature(text: str) -> str:
    """:func:`signature_tokens` joined by spaces, the form stored on issues and compared."""
    return " ".join(signature_tokens(text))


def folded_signature(folded: FoldedText) -> str:
    """:func:`signature` of a text already folded."""
    return " ".join(folded_signature_tokens(folded))
