"""The normalizer's word caches stay small whatever words a producer sends."""

import random
import string
import tracemalloc

import pytest
from hypercare_domain.normalize.fingerprint import problem_classes
from hypercare_domain.sentiment import sentiment

pytestmark = pytest.mark.unit


def test_unique_words_of_thousands_of_characters_do_not_fill_the_caches() -> None:
    # Bounded by entries only, 6,000 such texts kept ~60 MB (the caches hold 65,536 entries each: a
    # producer could push a normalizer past hundreds of megabytes).
    rng = random.Random(7)
    words = ["".join(rng.choices(string.ascii_lowercase, k=4000)) for _ in range(6000)]
    problem_classes("warm up the caches")
    sentiment("warm up, good")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for word in words:
            problem_classes(f"checkout fails {word}")
            sentiment(f"good {word}")
        words.clear()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 20_000_000, f"{retained / 1e6:.1f} MB kept by the caches"
