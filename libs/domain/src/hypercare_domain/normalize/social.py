"""Reports from social posts and app-store reviews."""

from hypercare_contracts import NormalizedReport, Reporter, ReporterKind, Source, SourceFormat
from hypercare_contracts.raw import SocialMention

from hypercare_domain.normalize.context import (
    BuildContext,
    as_utc,
    capped_count,
    extra_labels,
    shared_signals,
)
from hypercare_domain.normalize.fingerprint import fingerprint_report
from hypercare_domain.normalize.text import (
    clean_labels,
    clean_text,
    clean_title,
    first_line,
    guess_language,
    id_part,
    links_of,
    normalize_language,
    pseudonym,
)
from hypercare_domain.sentiment import sentiment


def social_reports(post: SocialMention, ctx: BuildContext) -> list[NormalizedReport]:
    """The report of one social post or store review; the author is a pseudonymous handle."""
    text = clean_text(post.text)
    title = clean_title(first_line(post.text), f"Post on {post.platform}")
    component = ctx.components.resolve(labels={}, product_area=None, screen=None, text=text)
    engagement = capped_count(post.engagement.likes + post.engagement.reposts + post.engagement.replies)
    return [
        NormalizedReport(
            event_id=f"social:{post.platform}:{id_part(post.id)}",
            source=Source.SOCIAL,
            source_format=SourceFormat.SOCIAL,
            source_ref=f"social:{post.platform}:{id_part(post.id)}",
            received_at=ctx.received_at,
            occurred_at=as_utc(post.created_at),
            title=title,
            text=text,
            component=component,
            reporter=Reporter(
                id=pseudonym(post.author.handle),
                kind=ReporterKind.SOCIAL_ACCOUNT,
                followers=capped_count(post.author.followers),
                verified=post.author.verified,
            ),
            signals=shared_signals(rating=post.rating, engagement=engagement),
            sentiment=sentiment(f"{title}\n{text}"),
            language=normalize_language(post.lang) or guess_language(text),
            links=links_of([(post.url, f"Post on {post.platform}")]),
            labels=clean_labels({**extra_labels(post), "platform": post.platform}),
            fingerprint=fingerprint_report(component, text),
            references={"post_id": post.id},
            trace_id=ctx.trace_id,
        )
    ]
