"""The words of the launch day: what customers, users and posters write, in many wordings.

Pools are plain tuples; the script draws from them with its seeded random generator, so a seed picks
one telling of the day and the same seed always tells it the same way.
"""

# ---------------------------------------------------------------------------------------- normal traffic

PRAISE_FEEDBACK: tuple[str, ...] = (
    "Love the new design, checkout feels much faster now",
    "Great app, thank you for the dark mode!",
    "The new search is spot on, found my size in seconds",
    "Smooth update, everything just works. Thank you!",
    "Really like the order tracking page, very clear",
)

IDEAS: tuple[str, ...] = (
    "Feature request: it would be great to save several delivery addresses",
    "Would be nice to filter by brand in the search results",
    "Suggestion: let me reorder my last basket with one tap",
    "Please add Apple Pay to the app as well",
)

HOWTO_TICKETS: tuple[tuple[str, str], ...] = (
    ("How do I change my e-mail address?", "I moved to a new address and want my receipts there."),
    ("How can I download an invoice?", "Our accounting needs the PDF invoice for last month's order."),
    ("Question about delivery times", "How do I see when my parcel will arrive?"),
    ("How do I add a colleague to our account?", "We want two buyers on the same company account."),
)

SOCIAL_PRAISE: tuple[str, ...] = (
    "Just tried the new app release, great app, the redesign is lovely",
    "Ordered in under a minute with the new update. Thank you @shop!",
    "The launch went smooth for me, love the new look",
    "Five stars, the new version is fast and clean",
)

SOCIAL_QUESTIONS: tuple[str, ...] = (
    "How do I turn on order notifications in the new version?",
    "Anyone know how can I switch the app language after the update?",
)

PRAISE_AFTER: tuple[str, ...] = (
    "Works again, order placed. Thank you for the quick fix!",
    "All good now, my order went through on the first try",
    "Back to normal here, great app when it works :)",
    "Fixed for me, thanks team, love the new design",
    "Placed my order just now, everything smooth",
    "Thank you for fixing it so fast, great support",
)

# ------------------------------------------------------------------------------------ checkout incident

CHECKOUT_TICKETS: tuple[tuple[str, str], ...] = (
    ("Can't complete checkout", "Our buyers get an error when they place an order. This is blocking us."),
    ("Checkout fails with error 500", "Clicking 'Place order' shows an internal server error every time."),
    ("Payment page stuck", "Checkout is stuck on the spinner after entering card details."),
    ("URGENT: orders not going through", "None of our team can check out since 10 minutes. Cart is full."),
    ("checkout broken??", "checkout doesn't work, tried 3 browsers, same error"),
    ("Cannot place order", "The place order button does nothing, the basket stays as it is."),
    ("Order confirmation never arrives", "Checkout fails at the last step and no order confirmation comes."),
    ("chekout not working", "cant finish my order, the page just says somethign went wrong"),
    ("Error at checkout", "Checkout failed twice with 'something went wrong'. Please help."),
    ("Checkout geht nicht", "Der Checkout funktioniert nicht, ich kann nicht bezahlen."),
    ("No puedo pagar", "El checkout no funciona, no puedo pagar mi pedido."),
    ("Le paiement ne fonctionne pas", "Le checkout ne fonctionne pas, impossible de payer ma commande."),
)

CHECKOUT_FEEDBACK: tuple[str, ...] = (
    "Checkout is broken, the pay button does nothing",
    "cant check out!!! error every time",
    "Place order fails with an error, lost 20 minutes",
    "Checkout keeps loading forever and then fails",
    "the checkout page crashes when i press pay",
    "Stuck at checkout, card is never accepted",
    "checkout not workin since the update",
    "Error 500 on checkout. Really?",
    "Warenkorb voll, aber der Checkout geht nicht",
    "El checkout no funciona desde hace un rato",
    "chekout failed 3 times, giving up",
    "Order button broken on checkout",
)

CHECKOUT_SOCIAL: tuple[tuple[str, str], ...] = (
    ("@shop your checkout doesn't work, tried three times", "en"),
    ("is @shop checkout down for anyone else?? cant pay", "en"),
    ("Wanted to buy the launch bundle but checkout is broken. Great launch...", "en"),
    ("chekout keeps failing on the new app, anyone else?", "en"),
    ("@shop checkout error 500 on every try, please fix", "en"),
    ("Der Checkout von @shop funktioniert nicht, schade", "de"),
    ("Checkout is down. Cart full, no way to pay. Come on @shop", "en"),
    ("el checkout de @shop no funciona, no puedo pagar", "es"),
)
"""Posts and the language the platform tagged them with."""

BIG_ACCOUNT_POST = (
    "Heads up: @shop checkout is broken right now, every order fails with an error. "
    "Don't waste your time until they fix it."
)

DOUBLE_CHARGE: tuple[tuple[str, str], ...] = (
    ("Charged twice for one order", "My card was charged twice for the same order during the outage."),
    ("Double charge on my credit card", "I see a duplicate charge from you, but I only got one order."),
    ("Billed twice?", "We were billed twice for order 55821, please refund one payment."),
)

LOGIN_LATENCY_SUMMARY = "Login p95 latency above 2s"
LOGIN_LATENCY_DESCRIPTION = "p95 of POST /api/login is 2.4s (threshold 2s), slow sign in for some users."
