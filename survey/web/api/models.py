"""Request and response models of ``/api/v1/`` (pydantic): spectree validates requests
with them and generates the OpenAPI document from them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_PAGE = 200
MAX_INVITATIONS = 1000
MAX_CONTACTS = 1000
MAX_FEED_PAGE = 10_000

Text = str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ----- errors ----------------------------------------------------------------------------
class FieldError(BaseModel):
    loc: str = Field(description="Where in the request, e.g. body.count")
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None


# ----- queries ---------------------------------------------------------------------------
class PageQuery(_Strict):
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=10**9)


class FeedQuery(_Strict):
    since: str | None = Field(
        None, max_length=200, description="The cursor of the previous pull (omit for the first)."
    )
    limit: int = Field(1000, ge=1, le=MAX_FEED_PAGE)


class ExportQuery(_Strict):
    format: Literal["csv", "sav", "dta", "parquet", "xlsx", "json"] = "csv"
    period: str | None = Field(None, max_length=32)
    language: str = Field("en", max_length=16)


class ExportCreate(_Strict):
    """An export to run in the background (``POST /campaigns/{slug}/exports``)."""

    format: Literal["csv", "sav", "dta", "parquet", "xlsx", "json"] = "csv"
    period: str | None = Field(None, max_length=32, description="Only this period (omit: all)")
    language: str = Field("en", max_length=16, description="Language of the labels")
    raw_formulas: bool = Field(
        False,
        description="csv/xlsx: keep text starting with =, +, -, @, tab or CR as it is "
        "(by default it is prefixed with ' against formula injection)",
    )


class ExportJob(BaseModel):
    """A background export: poll ``status_url`` until ``state`` is ``done``, then GET
    ``file_url`` (a ZIP: data file, codebooks, manifest)."""

    id: int
    campaign: str
    format: str
    period: str | None
    language: str
    raw_formulas: bool
    state: Literal["queued", "running", "done", "failed", "expired"]
    rows_done: int
    rows_total: int | None = Field(description="Known once the export has started")
    size_bytes: int | None = Field(description="Of the ZIP, when done")
    sha256: str | None = Field(description="Of the data file (as in its manifest), when done")
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    expires_at: str | None = Field(description="When the finished file is deleted")
    status_url: str
    file_url: str | None = Field(description="Present while the finished file can be downloaded")


class ReportQuery(_Strict):
    period: str | None = Field(None, max_length=32)
    segment: str | None = Field(None, max_length=64)


class Report(BaseModel):
    """The periodic report's JSON, as ``trustmeter report --json`` writes it (every
    figure; see the README's report section)."""

    model_config = ConfigDict(extra="allow")
    campaigns: list[str]
    focus: str | None


# ----- campaigns -------------------------------------------------------------------------
class CampaignCreate(_Strict):
    slug: str = Field(max_length=64)
    instrument: str = Field(
        "customer-trust", max_length=200, description="Instrument id or id@version"
    )
    period: str = Field(max_length=32)
    params: list[Text] = Field(default_factory=list, max_length=32)
    languages: list[Text] | None = Field(None, max_length=32)
    title: str | None = Field(None, max_length=200)
    opens: str | None = Field(None, max_length=40)
    closes: str | None = Field(None, max_length=40)
    min_segment_n: int = Field(30, ge=1, le=10**6)


class Brand(BaseModel):
    slug: str
    names: dict[str, str] = Field(description="Display name by language")


class Campaign(BaseModel):
    slug: str
    title: str | None
    instrument: str
    period: str
    params: list[str]
    languages: list[str]
    status: Literal["open", "closed"]
    accepting_responses: bool
    opens_at: str | None
    closes_at: str | None
    min_segment_n: int
    created_at: str
    public_url: str
    brands: list[Brand] = Field(
        default_factory=list,
        description="The brands respondents rate (issue 11), in the order the brand page "
        "lists them; empty: none",
    )
    brands_per_respondent: int | None = Field(
        None, description="K: how many of the brands they tick one respondent rates (null: all)"
    )


class CampaignPage(BaseModel):
    items: list[Campaign]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class TrustIndex(BaseModel):
    period: str | None = Field(None, description="The headline's period: the latest one")
    n: int | None = None
    mean: float | None = None
    ci95: list[float | None] | None = None
    suppressed: bool = False


class LiveStats(BaseModel):
    started: int
    completed: int
    in_progress: int
    completion_rate: float | None
    screened_out: int = Field(
        description="Visitors who were customers of none of the campaign's brands; their "
        "responses are erased, so they are not among the started"
    )
    careless: int | None
    analysed: int | None
    note: str | None


class CampaignDetail(Campaign):
    stats: LiveStats
    trust_index: TrustIndex | None
    funnel: dict[str, Any] | None = Field(
        description="The invitation e-mail funnel (null without e-mail contacts support)"
    )


# ----- invitations -----------------------------------------------------------------------
class Contact(_Strict):
    email: str = Field(max_length=320)
    name: str | None = Field(None, max_length=200)
    language: str | None = Field(None, max_length=16)
    params: dict[str, str] = Field(default_factory=dict, max_length=32)


class InvitationsCreate(_Strict):
    count: int | None = Field(None, ge=1, le=MAX_INVITATIONS)
    params: dict[str, str] = Field(default_factory=dict, max_length=32)
    contacts: list[Contact] | None = Field(None, min_length=1, max_length=MAX_CONTACTS)
    send: bool = False
    base_url: str | None = Field(
        None, max_length=500, description="Public address of the survey (default: this server's)"
    )


class Invitation(BaseModel):
    url: str
    token: str | None = Field(None, description="The raw token (links only)")
    contact: int | None = Field(None, description="The contact's id (contacts only)")


class Queued(BaseModel):
    contact: int
    message: int | None


class InvitationsCreated(BaseModel):
    count: int
    skipped: list[str] = Field(
        default_factory=list, description="Contacts not added, by position (never address)"
    )
    invitations: list[Invitation] = Field(default_factory=list)
    queued: list[Queued] = Field(default_factory=list)


# ----- webhooks --------------------------------------------------------------------------
class WebhookCreate(_Strict):
    url: str = Field(max_length=2000)
    events: list[Literal["response.completed", "campaign.closed"]] = Field(
        default_factory=lambda: ["response.completed"], min_length=1, max_length=2
    )


class Webhook(BaseModel):
    id: int
    campaign: str
    url: str
    events: list[str]
    created_at: str


class WebhookCreated(Webhook):
    secret: str = Field(description="Signs every delivery; shown only now")


class WebhookList(BaseModel):
    items: list[Webhook]


class Delivery(BaseModel):
    id: int
    webhook_id: int
    url: str
    event: str
    idempotency_key: str
    attempt: int
    at: str
    status: int | None
    error: str | None
    duration_ms: int | None


class DeliveryPage(BaseModel):
    items: list[Delivery]
    limit: int
    offset: int
