"""The raw shapes accepted on the four producer topics (and the matching gateway endpoints).

Third-party shapes follow their public documentation; unknown extra fields are tolerated and kept
(``extra="allow"``), never a reason to reject. Required fields are the ones a report cannot be built
without; everything else is optional so that older or trimmed senders keep working.
"""

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class RawModel(BaseModel):
    """Base of third-party and producer payloads: extra fields kept, values immutable."""

    model_config = ConfigDict(frozen=True, extra="allow", str_max_length=1_000_000)


# --- alerts ---------------------------------------------------------------------------------------


class AlertmanagerAlert(RawModel):
    """One alert inside an Alertmanager (or Grafana) webhook message."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime  # noqa: N815 - the wire name
    endsAt: AwareDatetime | None = None  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = ""
    # Grafana-only extras
    values: dict[str, float | None] | None = None
    silenceURL: str | None = None  # noqa: N815
    dashboardURL: str | None = None  # noqa: N815
    panelURL: str | None = None  # noqa: N815
    imageURL: str | None = None  # noqa: N815


class AlertmanagerWebhook(RawModel):
    """Prometheus Alertmanager webhook, version "4"."""

    version: Literal["4"]
    groupKey: str = ""  # noqa: N815
    truncatedAlerts: int = Field(default=0, ge=0)  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    externalURL: str = ""  # noqa: N815
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=1000)


class GrafanaWebhook(RawModel):
    """Grafana Alerting webhook: the Alertmanager shape plus Grafana's fields, version "1"."""

    version: Literal["1"]
    orgId: int | None = None  # noqa: N815
    title: str = ""
    state: str = ""
    message: str = ""
    groupKey: str = ""  # noqa: N815
    truncatedAlerts: int = Field(default=0, ge=0)  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    externalURL: str = ""  # noqa: N815
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=1000)


class PagerDutyLink(RawModel):
    """A link attached to a PagerDuty event."""

    href: str
    text: str = ""


class PagerDutyImage(RawModel):
    """An image attached to a PagerDuty event."""

    src: str
    href: str = ""
    alt: str = ""


class PagerDutyPayload(RawModel):
    """The ``payload`` object of a PagerDuty trigger event."""

    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: AwareDatetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: dict[str, Any] | None = None


class PagerDutyEvent(RawModel):
    """PagerDuty Events API v2 event. Acknowledge and resolve may carry no payload."""

    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    payload: PagerDutyPayload | None = None
    links: list[PagerDutyLink] = Field(default_factory=list)
    images: list[PagerDutyImage] = Field(default_factory=list)
    client: str | None = None
    client_url: str | None = None


# --- tickets --------------------------------------------------------------------------------------


class ZendeskVia(RawModel):
    """How a Zendesk ticket arrived."""

    channel: str | None = None


class ZendeskTicketDetail(RawModel):
    """The ticket as it is after the event."""

    id: str
    subject: str | None = None
    description: str | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    status: Literal["new", "open", "pending", "hold", "solved", "closed"] | None = None
    type: Literal["problem", "incident", "question", "task"] | None = None
    tags: list[str] = Field(default_factory=list)
    requester_id: str | None = None
    assignee_id: str | None = None
    organization_id: str | None = None
    group_id: str | None = None
    brand_id: str | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    via: ZendeskVia | None = None


class ZendeskTicketEvent(RawModel):
    """Zendesk ticket event webhook (``zen:event-type:ticket.*``)."""

    type: str = Field(pattern=r"^zen:event-type:ticket\.[a-z_]+$")
    id: str
    time: AwareDatetime
    account_id: str | int | None = None
    zendesk_event_version: str | None = None
    subject: str | None = None
    detail: ZendeskTicketDetail
    event: dict[str, Any] = Field(default_factory=dict)


class TicketRequester(RawModel):
    """Who filed a generic ticket."""

    id: str
    email: str | None = None
    tier: Literal["free", "pro", "enterprise"] = "free"


class GenericTicket(RawModel):
    """A support ticket from any desk that is not Zendesk."""

    id: str = Field(min_length=1, max_length=256)
    subject: str = Field(min_length=1)
    body: str = ""
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    status: str = "new"
    requester: TicketRequester
    product_area: str | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: AwareDatetime
    url: str | None = None


# --- feedback -------------------------------------------------------------------------------------


class FeedbackUser(RawModel):
    """The user who left in-app feedback."""

    id: str
    tier: Literal["free", "pro", "enterprise"] = "free"
    email: str | None = None


class InAppFeedback(RawModel):
    """In-app feedback widget submission (this project's own contract)."""

    id: str = Field(min_length=1, max_length=256)
    created_at: AwareDatetime
    user: FeedbackUser
    rating: int | None = Field(default=None, ge=1, le=5)
    category: Literal["bug", "idea", "praise", "question", "other"]
    text: str
    screen: str | None = None
    app_version: str | None = None
    platform: Literal["web", "ios", "android", "desktop"] | None = None
    device: str | None = None
    session_id: str | None = None
    screenshot_url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


# --- social ---------------------------------------------------------------------------------------


class SocialAuthor(RawModel):
    """Author of a social post or store review."""

    handle: str
    followers: int = Field(default=0, ge=0)
    verified: bool = False


class SocialEngagement(RawModel):
    """Engagement counters of a post."""

    likes: int = Field(default=0, ge=0)
    reposts: int = Field(default=0, ge=0)
    replies: int = Field(default=0, ge=0)


class SocialMention(RawModel):
    """A social post or app-store review mentioning the product (this project's own contract)."""

    id: str = Field(min_length=1, max_length=256)
    platform: Literal["x", "reddit", "mastodon", "bluesky", "app_store", "play_store", "forum"]
    created_at: AwareDatetime
    url: str | None = None
    lang: str | None = None
    text: str
    author: SocialAuthor
    engagement: SocialEngagement = Field(default_factory=SocialEngagement)
    rating: int | None = Field(default=None, ge=1, le=5)


RawAlert = AlertmanagerWebhook | GrafanaWebhook | PagerDutyEvent
RawTicket = ZendeskTicketEvent | GenericTicket
