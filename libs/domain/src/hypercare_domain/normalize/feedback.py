"""Reports from the in-app feedback widget."""

from hypercare_contracts import NormalizedReport, Reporter, ReporterKind, Source, SourceFormat
from hypercare_contracts.raw import InAppFeedback

from hypercare_domain.normalize.context import BuildContext, as_utc, extra_labels, shared_signals
from hypercare_domain.normalize.fingerprint import fingerprint_report
from hypercare_domain.normalize.text import (
    clean_labels,
    clean_text,
    clean_title,
    first_line,
    guess_language,
    id_part,
    links_of,
    pseudonym,
    reference_value,
    scalar_labels,
)
from hypercare_domain.sentiment import sentiment


def feedback_reports(feedback: InAppFeedback, ctx: BuildContext) -> list[NormalizedReport]:
    """The report of one feedback submission; its title is the first line of the text."""
    screen = feedback.screen or ""
    title = clean_title(
        first_line(feedback.text), f"{feedback.category.capitalize()} feedback on {screen or 'app'}"
    )
    text = clean_text(feedback.text)
    area = feedback.metadata.get("product_area")
    component = ctx.components.resolve(
        labels={},
        product_area=area if isinstance(area, str) else None,
        screen=feedback.screen,
        text=text,
    )
    labels = {
        key: value
        for key, value in (
            ("screen", feedback.screen),
            ("app_version", feedback.app_version),
            ("platform", feedback.platform),
            ("device", feedback.device),
        )
        if value
    }
    references = {"feedback_id": feedback.id}
    if feedback.session_id:
        references["session_id"] = reference_value(feedback.session_id)
    return [
        NormalizedReport(
            event_id=f"feedback:{id_part(feedback.id)}",
            source=Source.FEEDBACK,
            source_format=SourceFormat.FEEDBACK,
            source_ref=f"feedback:{id_part(feedback.id)}",
            received_at=ctx.received_at,
            occurred_at=as_utc(feedback.created_at),
            title=title,
            text=text,
            component=component,
            reporter=Reporter(
                id=pseudonym(feedback.user.id), kind=ReporterKind.USER, tier=feedback.user.tier
            ),
            signals=shared_signals(rating=feedback.rating, category=feedback.category),
            sentiment=sentiment(f"{title}\n{text}"),
            language=guess_language(text),
            links=links_of([(feedback.screenshot_url, "Screenshot")]),
            labels=clean_labels(
                {**extra_labels(feedback), **scalar_labels("metadata", feedback.metadata), **labels}
            ),
            fingerprint=fingerprint_report(component, text),
            references=references,
            trace_id=ctx.trace_id,
        )
    ]
