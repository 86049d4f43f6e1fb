"""The language guess: deterministic, and None when unsure."""

import pytest
from hypercare_domain.normalize import guess_language

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The checkout is not working and I can't pay for my order", "en"),
        ("Ich kann nicht bezahlen, der Checkout ist kaputt und die Seite lädt nicht", "de"),
        ("Je ne peux pas payer, le panier est vide et la page ne charge pas", "fr"),
        ("No puedo pagar, el carrito no funciona y la página se queda en blanco", "es"),
        ("Não consigo pagar, o carrinho não funciona e a página fica em branco", "pt"),
        ("Non riesco a pagare, il carrello non funziona e la pagina è bianca", "it"),
        ("Ik kan niet betalen, de winkelwagen werkt niet en de pagina blijft leeg", "nl"),
        ("checkout", None),
        ("", None),
        ("12345 !!!", None),
    ],
)
def test_language_guess(text: str, expected: str | None) -> None:
    assert guess_language(text) == expected
