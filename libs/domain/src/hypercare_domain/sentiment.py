"""Sentiment of short informal text, -1 (very negative) to 1 (very positive).

VADER is a lexicon and rule model built for short social-media text: it reads capitals, exclamation
marks, emoticons and negations ("not good") without training data or a model download, and it is fast
and deterministic, which a replayable triage engine needs. It understands English only; other languages
score near 0 and are scored by their phrases instead.

The normalizer scores every human report once (``NormalizedReport.sentiment``); triage reuses that
score and computes it only for reports that arrive without one.

Speed: VADER's negation and idiom checks lower-case the whole word list again for every sentiment word
they look at, which makes a long ticket quadratic. :class:`_WindowedAnalyzer` hands those two checks
only the few words around the current one (all they ever read), so the score is the same, to the last
digit, at about half the cost. VADER also starts by copying the text one character at a time to swap
emoji for their descriptions; a text without any emoji character skips that copy. Scores are cached
per distinct text (redeliveries, re-sent posts).

Reports are mostly distinct texts built from recurring words and phrases, so the emoji-free path also
remembers, in bounded caches, each token's stripped lowercased word and the valence VADER gave a
lexicon word in a given window of neighbours; only lexicon words are scored at all (every other word's
valence is 0), and :meth:`_WindowedAnalyzer.compound` skips the three scores nobody reads.
"""

from functools import lru_cache
from itertools import compress
from typing import Any, Protocol

from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentimentIntensityAnalyzer, SentiText, normalize

_BEFORE = 3
"""Words before the current one that VADER's negation and idiom checks read (``i - 3`` .. ``i - 1``)."""
_AFTER = 2
"""Words after the current one that VADER's idiom check reads (``i + 1``, ``i + 2``)."""
_ELLIPSIS = "\u2026"
_WORD_CACHE_SIZE = 1 << 16
"""Distinct whitespace-separated tokens remembered with their stripped, lowercased word."""
_VALENCE_CACHE_SIZE = 1 << 16
"""Distinct (window, position, cap differential) keys remembered with the valence VADER gave them."""
_CACHE_CHARS = 1 << 21
"""Characters of the tokens each of the two caches holds at most: a producer sending unique tokens of
thousands of characters would otherwise fill their 65,536 entries with hundreds of megabytes."""


class _Analyzer(Protocol):
    def polarity_scores(self, text: str) -> dict[str, float]: ...

    def compound(self, text: str) -> float: ...


class _Window:
    """The two attributes of :class:`SentiText` that ``sentiment_valence`` reads, for a window of words."""

    __slots__ = ("is_cap_diff", "words_and_emoticons")

    def __init__(self, words: list[str], is_cap_diff: bool) -> None:
        self.words_and_emoticons = words
        self.is_cap_diff = is_cap_diff


class _WindowedAnalyzer(SentimentIntensityAnalyzer):  # type: ignore[misc]  # untyped library class
    """VADER whose per-word context checks see a window of words instead of the whole text.

    Both checks are only called for a word ``i`` with ``i > 2`` (idioms) or ``i > start_i`` (negation)
    and read nothing outside ``i - 3 .. i + 2``; the window keeps the index arithmetic identical.
    """

    def __init__(self) -> None:
        super().__init__()
        # VADER's emoji pass looks at one character at a time, so only one-character keys can match.
        self._emoji_chars = frozenset(key for key in self.emojis if len(key) == 1)
        # No emoji character is ASCII, nor the ellipsis the normalizer ends a cut text with (checked here,
        # not assumed): a text that is ASCII but for ellipses needs no character-by-character emoji scan.
        self._ascii_emoji = any(char.isascii() or char == _ELLIPSIS for char in self._emoji_chars)
        # The lowercased words VADER scores with sentiment_valence: lexicon words that are no booster.
        # Every other word gets 0 (boosters and "kind" before "of" by polarity_scores itself, words
        # outside the lexicon by sentiment_valence, which leaves their valence at 0).
        self._scored = frozenset(self.lexicon).difference(BOOSTER_DICT)
        # Bounded together by _WORD_CACHE_SIZE: every token seen, those whose word is scored, "but" or
        # ALL CAPS, and the lowercased word of the scored ones and of "of".
        self._known_tokens: set[str] = set()
        self._scored_tokens: set[str] = set()
        self._but_tokens: set[str] = set()
        self._upper_tokens: set[str] = set()
        self._tokens: dict[str, str] = {}
        self._token_chars = 0
        self._valences: dict[tuple[tuple[str, ...], int, bool], float] = {}
        self._valence_chars = 0

    def _has_emoji(self, text: str) -> bool:
        """Whether ``text`` holds a character VADER's emoji pass replaces."""
        if not self._ascii_emoji and (text.isascii() or text.replace(_ELLIPSIS, "").isascii()):
            return False
        return not self._emoji_chars.isdisjoint(text)

    def polarity_scores(self, text: str) -> dict[str, float]:
        """VADER's scores; a text with no emoji character skips the character-by-character copy."""
        if self._has_emoji(text):
            scores: dict[str, float] = super().polarity_scores(text)
            return scores
        # Without an emoji the copy equals the text, so what follows is VADER's own sequence on it.
        text = text.strip()
        sentiments = self._sentiments(text)
        valence: dict[str, float] = self.score_valence(sentiments, text)
        return valence

    def compound(self, text: str) -> float:
        """``polarity_scores(text)["compound"]``, without computing the other three scores."""
        if self._has_emoji(text):
            return float(super().polarity_scores(text)["compound"])
        text = text.strip()
        sentiments = self._sentiments(text)
        if not sentiments:
            return 0.0
        # score_valence's compound: the sum, pushed away from 0 by the punctuation emphasis, normalized.
        total = float(sum(sentiments))
        emphasis = self._punctuation_emphasis(text)
        if total > 0:
            total += emphasis
        elif total < 0:
            total -= emphasis
        compound: float = round(normalize(total), 4)
        return compound

    def _learn(self, tokens: list[str]) -> None:
        """Sorts the tokens not seen before into the token sets :meth:`_sentiments` reads.

        Tokens repeat across texts, and stripping their punctuation is the costly part of the split.
        """
        known = self._known_tokens
        new = set(tokens).difference(known)
        chars = sum(map(len, new))
        if len(known) + len(tokens) > _WORD_CACHE_SIZE or self._token_chars + chars > _CACHE_CHARS:
            for tokens_set in (known, self._scored_tokens, self._upper_tokens, self._but_tokens):
                tokens_set.clear()
            self._tokens.clear()
            self._token_chars = 0
            new = set(tokens)
            chars = sum(map(len, new))
        self._token_chars += chars
        for token in new:
            word = SentiText._strip_punc_if_word(token).lower()
            if word in self._scored:
                self._scored_tokens.add(token)
                self._tokens[token] = word
            if word == "but":
                self._but_tokens.add(token)
            # "of" decides whether "kind" before it is scored.
            if word == "of":
                self._tokens[token] = word
            if token.isupper():
                self._upper_tokens.add(token)
            known.add(token)

    def _sentiments(self, text: str) -> list[Any]:
        """The per-word valences VADER's polarity_scores computes for a stripped, emoji-free text.

        Only lexicon words can get a valence other than 0, and theirs depends on nothing but the words
        from ``i - 3`` to ``i + 2``, how many words precede (up to 3) and the text's cap differential,
        so it is looked up by those in a bounded cache and computed by VADER on a miss.

        Which tokens are lexicon words, "but", ALL CAPS (and what a lexicon word or "of" lowercases to)
        is remembered per token in bounded sets, so a text costs a few C-level passes over its tokens.
        """
        tokens = text.split()
        if not self._known_tokens.issuperset(tokens):
            self._learn(tokens)
        count = len(tokens)
        # SentiText's allcap_differential: some, but not all, words are ALL CAPS. Stripping punctuation
        # keeps every cased character, so a token is ALL CAPS exactly when its word is. Both tests usually
        # stop at the first "I" or the first token.
        upper = self._upper_tokens
        is_cap_diff = not upper.isdisjoint(tokens) and not all(map(upper.__contains__, tokens))
        sentiments: list[Any] = [0] * count
        valences = self._valences
        lowered = self._tokens
        for i in compress(range(count), map(self._scored_tokens.__contains__, tokens)):
            if lowered[tokens[i]] == "kind" and i < count - 1 and lowered.get(tokens[i + 1]) == "of":
                continue
            low = max(0, i - _BEFORE)
            # A word is a function of its token: the tokens key the window as well as the words would.
            key = (tuple(tokens[low : i + _AFTER + 1]), i - low, is_cap_diff)
            valence = valences.get(key)
            if valence is None:
                chars = sum(map(len, key[0]))
                if len(valences) >= _VALENCE_CACHE_SIZE or self._valence_chars + chars > _CACHE_CHARS:
                    valences.clear()
                    self._valence_chars = 0
                self._valence_chars += chars
                window = list(map(SentiText._strip_punc_if_word, key[0]))
                valence = self.sentiment_valence(
                    0, _Window(window, is_cap_diff), window[i - low], i - low, []
                )[0]
                valences[key] = valence
            sentiments[i] = valence
        if not self._but_tokens.isdisjoint(tokens):
            words = list(map(SentiText._strip_punc_if_word, tokens))
            sentiments = self._but_check(words, sentiments)
        return sentiments

    @staticmethod
    def _negation_check(valence: float, words: list[str], start_i: int, i: int) -> float:
        low = max(0, i - _BEFORE)
        checked: float = SentimentIntensityAnalyzer._negation_check(
            valence, words[low : i + 1], start_i, i - low
        )
        return checked

    @staticmethod
    def _special_idioms_check(valence: float, words: list[str], i: int) -> float:
        low = max(0, i - _BEFORE)
        checked: float = SentimentIntensityAnalyzer._special_idioms_check(
            valence, words[low : i + _AFTER + 1], i - low
        )
        return checked


@lru_cache(maxsize=1)
def _analyzer() -> _Analyzer:
    # Built on first use: loading the lexicon takes a noticeable moment.
    analyzer: _Analyzer = _WindowedAnalyzer()
    return analyzer


@lru_cache(maxsize=2048)
def sentiment(text: str) -> float:
    """VADER's compound score of ``text``: -1 (very negative) to 1 (very positive), 0 when empty."""
    if not text.strip():
        return 0.0
    return _analyzer().compound(text)
