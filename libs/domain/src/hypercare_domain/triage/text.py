"""Text helpers: phrase matching and the wording-robust form used for similarity.

The similarity form folds a small multilingual vocabulary of problem words onto one English token each
("kann nicht bezahlen", "payment failed" and "can't pay" all become ``fail pay``) so that paraphrases
and the most common German, Spanish and French wordings compare as equal. It is deliberately small:
typos are left to the fuzzy comparison, and anything rarer simply does not merge by similarity.
"""

import re
import unicodedata
from functools import lru_cache

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'"})

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


def fold(text: str) -> str:
    """Lower-case, Unicode-normalized text with straight quotes and single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=256)
def phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of ``phrases`` on word boundaries."""
    alternatives = sorted((fold(phrase) for phrase in phrases), key=len, reverse=True)
    body = "|".join(r"\s+".join(re.escape(word) for word in alt.split(" ")) for alt in alternatives)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def find_phrase(text: str, phrases: tuple[str, ...]) -> str | None:
    """The first phrase of ``phrases`` found in ``text`` (as written there), or None."""
    found = phrase_pattern(phrases).search(fold(text))
    return found.group(0) if found else None


@lru_cache(maxsize=1)
def _canonical_maps() -> tuple[re.Pattern[str], dict[str, str], dict[str, str]]:
    phrase_to = {fold(p): canon for canon, phrases in _PHRASES.items() for p in phrases}
    word_to = {fold(w): canon for canon, words in _WORDS.items() for w in words if " " not in w}
    phrase_to.update({fold(w): canon for canon, words in _WORDS.items() for w in words if " " in w})
    return phrase_pattern(tuple(phrase_to)), phrase_to, word_to


def signature_tokens(text: str) -> list[str]:
    """The wording-robust tokens of ``text``: folded, synonyms mapped, stop words dropped, sorted."""
    pattern, phrase_to, word_to = _canonical_maps()
    folded = fold(text)
    folded = pattern.sub(lambda found: f" {phrase_to[_SPACES.sub(' ', found.group(0))]} ", folded)
    words = (word.strip("'") for word in _NON_WORD.sub(" ", folded).split())
    tokens = {word_to.get(word, word) for word in words if word and word not in _STOPWORDS}
    return sorted(tokens)


def signature(text: str) -> str:
    """:func:`signature_tokens` joined by spaces, the form stored on issues and compared."""
    return " ".join(signature_tokens(text))
