"""Plain-text and HTML renderings of a notification (e-mail bodies, console, fallbacks).

Everything that came from outside (titles, report text, team names) is escaped in the HTML
rendering; the plain text is shown as is.
"""

from __future__ import annotations

from html import escape

from hypercare_domain.notify.render import RenderedNotification, format_time

SAMPLE_CHARS = 200


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when cut."""
    if limit < 1:
        raise ValueError("limit must be positive")
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def impact_line(note: RenderedNotification) -> str | None:
    """``Impact 82/100 (reach 90, financial 70, reputational 40)``, when the impact is known."""
    if note.impact is None:
        return None
    i = note.impact
    return (
        f"Impact {i.score:.0f}/100 (reach {i.reach:.0f}, financial {i.financial:.0f}, "
        f"reputational {i.reputational:.0f})"
    )


def reason_lines(note: RenderedNotification) -> list[str]:
    """One line per top reason: ``+30.0 reach: 37 distinct reporters``."""
    if note.impact is None:
        return []
    return [f"{item.contribution:+.1f} {item.rule}: {item.reason}" for item in note.impact.top_reasons]


def reach_line(note: RenderedNotification) -> str | None:
    """``120 occurrences from 37 reporters``, when known."""
    if note.occurrences is None:
        return None
    if note.distinct_reporters is None:
        return f"{note.occurrences} occurrences"
    return f"{note.occurrences} occurrences from {note.distinct_reporters} reporters"


def route_line(note: RenderedNotification) -> str:
    """``payments → team payments (policy payments-default)``."""
    text = note.route.name
    if note.route.team:
        text += f" → team {note.route.team}"
    if note.route.escalation_policy:
        text += f" (policy {note.route.escalation_policy})"
    return text


def sla_line(note: RenderedNotification) -> str | None:
    """``respond by …, resolve by …``, when a due time is known."""
    if note.sla is None:
        return None
    parts = []
    if note.sla.response_due_at is not None:
        parts.append(f"respond by {format_time(note.sla.response_due_at)}")
    if note.sla.resolution_due_at is not None:
        parts.append(f"resolve by {format_time(note.sla.resolution_due_at)}")
    return ", ".join(parts) or None


def where_line(note: RenderedNotification) -> str | None:
    """``checkout (production)``, when known."""
    if note.component is None:
        return None
    return f"{note.component} ({note.environment})" if note.environment else note.component


def digest_lines(note: RenderedNotification) -> list[str]:
    """One line per digest entry: ``[HIGH] Title · impact 40 · 12 occurrences (iss-1)``."""
    return [
        f"[{e.severity.value.upper()}] {e.title} · impact {e.impact_score:.0f} · "
        f"{e.occurrences} occurrences ({e.issue_id})"
        for e in note.digest
    ]


def to_text(note: RenderedNotification) -> str:
    """The plain-text rendering: title, headline, then labelled lines and links."""
    lines = [note.title, f"{note.headline} · {note.kind.value} · {note.urgency.value}", ""]
    labelled = [
        ("Impact", impact_line(note)),
        ("Reach", reach_line(note)),
        ("Route", route_line(note)),
        ("Where", where_line(note)),
        ("SLA", sla_line(note)),
    ]
    lines.extend(f"{label}: {value}" for label, value in labelled if value)
    reasons = reason_lines(note)
    if reasons:
        lines.append("Why:")
        lines.extend(f"  {reason}" for reason in reasons)
    if note.samples:
        lines.append("Reports:")
        for sample in note.samples:
            body = f": {shorten(sample.text, SAMPLE_CHARS)}" if sample.text else ""
            lines.append(f"  - [{sample.source.value}] {sample.title}{body}")
    if note.digest:
        lines.append("Issues:")
        lines.extend(f"  - {line}" for line in digest_lines(note))
    if note.acknowledge_url:
        lines.append(f"Acknowledge: {note.acknowledge_url}")
    if note.resolve_url:
        lines.append(f"Resolve: {note.resolve_url}")
    if note.issue_id:
        lines.append(f"Issue: {note.issue_id}")
    return "\n".join(lines) + "\n"


def _li(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def to_html(note: RenderedNotification) -> str:
    """The HTML rendering (an e-mail body); every outside value is escaped."""
    parts = [
        "<!DOCTYPE html>",
        '<html><body style="font-family: sans-serif">',
        f"<h2>{escape(note.title)}</h2>",
        f"<p><strong>{escape(note.headline)}</strong> · {note.kind.value} · {note.urgency.value}</p>",
    ]
    labelled = [
        ("Impact", impact_line(note)),
        ("Reach", reach_line(note)),
        ("Route", route_line(note)),
        ("Where", where_line(note)),
        ("SLA", sla_line(note)),
    ]
    rows = "".join(
        f"<tr><th align='left'>{label}</th><td>{escape(value)}</td></tr>"
        for label, value in labelled
        if value
    )
    parts.append(f"<table>{rows}</table>")
    reasons = reason_lines(note)
    if reasons:
        parts.append("<p>Why:</p>" + _li([escape(r) for r in reasons]))
    if note.samples:
        samples = [
            f"<em>{escape(s.source.value)}</em> {escape(s.title)}"
            + (f": {escape(shorten(s.text, SAMPLE_CHARS))}" if s.text else "")
            for s in note.samples
        ]
        parts.append("<p>Reports:</p>" + _li(samples))
    if note.digest:
        parts.append("<p>Issues:</p>" + _li([escape(line) for line in digest_lines(note)]))
    actions = [
        f'<a href="{escape(url, quote=True)}">{label}</a>'
        for label, url in (("Acknowledge", note.acknowledge_url), ("Resolve", note.resolve_url))
        if url
    ]
    if actions:
        parts.append("<p>" + " · ".join(actions) + "</p>")
    if note.issue_id:
        parts.append(f"<p style='color:#666'>Issue {escape(note.issue_id)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
