"""In-app feedback and social mentions as normalized reports."""

from datetime import UTC, datetime
from typing import Any

import pytest
from hypercare_contracts import NormalizedReport, ReportAction, ReporterKind, SourceFormat
from hypercare_contracts.normalized import TITLE_MAX
from hypercare_domain.normalize import fingerprint_report, normalize

from tests.factories.policy import shipped_component_map
from tests.factories.raw import make_feedback, make_social

pytestmark = pytest.mark.unit

RECEIVED = datetime(2024, 5, 2, 10, 10, tzinfo=UTC)


def one(topic: str, payload: dict[str, Any]) -> NormalizedReport:
    reports = normalize(
        topic, payload, received_at=RECEIVED, trace_id="t", components=shipped_component_map()
    )
    assert len(reports) == 1
    return reports[0]


def feedback(**overrides: Any) -> NormalizedReport:
    return one("hypercare.raw.feedback", make_feedback(**overrides))


def social(**overrides: Any) -> NormalizedReport:
    return one("hypercare.raw.social", make_social(**overrides))


def test_feedback_becomes_a_user_report() -> None:
    report = feedback()
    assert report.source_format is SourceFormat.FEEDBACK
    assert report.action is ReportAction.REPORT
    assert report.event_id == "feedback:fb-2001"
    assert report.source_ref == "feedback:fb-2001"
    assert report.title == "Checkout is broken, the pay button does nothing"
    assert report.component == "checkout"
    assert report.reporter.kind is ReporterKind.USER
    assert report.reporter.tier == "free"
    assert report.signals.rating == 1
    assert report.signals.category == "bug"
    assert report.language == "en"
    assert [(link.text, link.href) for link in report.links] == [
        ("Screenshot", "https://cdn.example.com/screens/fb-2001.png")
    ]
    assert report.labels["screen"] == "/checkout/payment"
    assert report.labels["metadata.experiment"] == "new-checkout"
    assert report.references["session_id"] == "s-9f8e7d"
    assert report.fingerprint == fingerprint_report("checkout", "checkout fails")


def test_feedback_screen_decides_the_component_when_the_text_does_not() -> None:
    assert feedback(text="The button does nothing", screen="/search/results").component == "search"
    assert feedback(text="The button does nothing", screen="/nowhere").component == "unknown"


def test_feedback_metadata_product_area_wins_over_the_screen() -> None:
    report = feedback(text="Nothing happens", screen="/search", metadata={"product_area": "billing"})
    assert report.component == "payments"


def test_feedback_user_email_is_never_forwarded() -> None:
    report = feedback(
        user={"id": "u-9", "tier": "pro", "email": "max@example.org"}, text="mail me at max@example.org"
    )
    dumped = report.model_dump_json()
    assert "max@example.org" not in dumped
    assert report.text == "mail me at [email]"
    user_is_email = feedback(user={"id": "max@example.org"})
    assert user_is_email.reporter.id is not None
    assert "@" not in user_is_email.reporter.id


def test_feedback_title_is_the_first_line_or_a_fallback() -> None:
    assert feedback(text="\n  Search is slow\nreally slow").title == "Search is slow"
    assert feedback(text="", category="idea", screen="/settings").title == "Idea feedback on /settings"


def test_a_social_post_becomes_a_social_account_report() -> None:
    report = social()
    assert report.source_format is SourceFormat.SOCIAL
    assert report.event_id == "social:x:1786000000000000001"
    assert report.source_ref == "social:x:1786000000000000001"
    assert report.reporter.kind is ReporterKind.SOCIAL_ACCOUNT
    assert report.reporter.id == "shopper"
    assert report.reporter.followers == 1200
    assert report.reporter.verified is False
    assert report.signals.engagement == 22
    assert report.component == "checkout"
    assert report.language == "en"
    assert report.links[0].href == "https://x.com/shopper/status/1786000000000000001"
    assert report.fingerprint == fingerprint_report("checkout", "checkout fails")


def test_a_handle_is_kept_but_an_email_as_handle_is_pseudonymised() -> None:
    assert social(author={"handle": "@shopper", "followers": 3}).reporter.id == "@shopper"
    hashed = social(author={"handle": "shopper@example.com", "followers": 3}).reporter.id
    assert hashed is not None
    assert len(hashed) == 16
    assert "@" not in hashed


def test_store_reviews_carry_their_rating() -> None:
    report = social(
        platform="app_store", rating=2, author={"handle": "reviewer", "followers": 0, "verified": True}
    )
    assert report.signals.rating == 2
    assert report.reporter.verified is True
    assert report.event_id.startswith("social:app_store:")


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("de-DE", "irrelevant", "de"),
        ("PT_br", "irrelevant", "pt"),
        (None, "Der Checkout funktioniert nicht mit meiner Karte und ich kann nicht zahlen", "de"),
        (None, "Le paiement ne marche pas et je ne peux pas commander", "fr"),
        (None, "ok", None),
    ],
)
def test_language_comes_from_the_post_or_a_guess(lang: str | None, text: str, expected: str | None) -> None:
    assert social(lang=lang, text=text).language == expected


def test_a_long_post_title_is_bounded() -> None:
    report = social(text="checkout " * 300)
    assert len(report.title) <= TITLE_MAX
    assert report.title.endswith("\u2026")


def test_normalizing_twice_gives_identical_reports() -> None:
    for topic, payload in (
        ("hypercare.raw.feedback", make_feedback()),
        ("hypercare.raw.social", make_social()),
    ):
        assert one(topic, payload) == one(topic, payload)
