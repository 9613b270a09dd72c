"""The advisor console's JSON API: the console's operations for programs, under
``/api/v1/console``, with a per-user API token (``Authorization: Bearer gw_...``).

The same role rules as the console pages apply (``bot.domain.access``): a handoff the
caller may not read answers 404, one they may read but not change answers 403, and a
WhatsApp reply at or above the flow's threshold, or after WhatsApp's 24-hour window
closed, answers 409 (outside the window, ``/follow-up`` sends the flow's approved
template instead). Every error is ``{"detail": "<plain words>"}``. Only compliance may
download a conversation's evidence bundle (``/evidence``, a zip); other roles get 403.

The response models here are also what the console pages render and poll, so the page
and the API cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from bot.adapters.db import SessionFactory
from bot.config import Settings
from bot.domain.access import Action, Actor
from bot.domain.routing import RoutingRules
from bot.entrypoints.routes.path_params import RowId
from bot.service_layer import advisor_messages, evidence_download, handoff_views, sign_ins
from bot.service_layer.evidence_download import EvidenceDownload
from bot.service_layer.handoff_actions import HandoffChange, act
from bot.service_layer.handoff_views import HandoffDetail, HandoffView
from bot.service_layer.handoffs import HandoffError, HandoffEvents, Router
from bot.service_layer.ports import Clock, FlowSource

__all__ = [
    "ApiActor",
    "ConsoleContainer",
    "ErrorOut",
    "HandoffDetailOut",
    "HandoffOut",
    "HandoffsOut",
    "ReplyIn",
    "ReplyOut",
    "RulesSource",
    "SummaryOut",
    "TranscriptLineOut",
    "change_handoff",
    "detail_out",
    "evidence_response",
    "handoffs_out",
    "router",
]

router = APIRouter(prefix="/api/v1/console", tags=["console"])


class ConsoleContainer(Protocol):
    """What the console's pages and API need from ``app.state.container``."""

    @property
    def sessions(self) -> SessionFactory: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def flows(self) -> FlowSource: ...
    @property
    def handoff_router(self) -> Router: ...
    @property
    def handoff_events(self) -> HandoffEvents: ...
    @property
    def routing(self) -> RulesSource: ...


class RulesSource(Protocol):
    """The routing rules in force (``flows/routing.yml``, re-read when it changes)."""

    def current(self) -> RoutingRules: ...


def container_of(request: Request) -> ConsoleContainer:
    container: ConsoleContainer = request.app.state.container
    return container


# -- models -----------------------------------------------------------------------------


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in plain words.")


class HandoffOut(BaseModel):
    """One handoff as it appears in a queue."""

    id: int
    conversation_id: str
    status: str = Field(description="queued, assigned, claimed, escalated or closed.")
    reason: str = Field(description="threshold (moved to the secure channel) or human_request.")
    queue: str = Field(description="The queue the routing rules chose.")
    language: str | None = Field(description="The conversation's language (en, de, fr, es).")
    level: str = Field(description="The sensitivity level the conversation had reached.")
    country: str | None
    product: str | None
    created_at: datetime
    waiting_seconds: int = Field(
        description="How long the prospect waited: until claimed, else until now."
    )
    assignee_id: int | None = Field(description="Who has it: the claimer, else the assignee.")
    assignee: str | None = Field(description="That person's display name.")
    can_act: bool = Field(description="Whether the caller may do anything to it (see actions).")
    actions: list[Action] = Field(
        default_factory=list,
        description="What the caller may do now: claim; and, once they claimed it, reply, "
        "release and close (a supervisor may also release or close their team's).",
    )


class HandoffsOut(BaseModel):
    handoffs: list[HandoffOut]
    updated_at: datetime = Field(description="The server's time when the list was read.")


class EvidenceOut(BaseModel):
    """One rule that fired: its name and level, never the text it matched."""

    source: str
    name: str
    level: str
    confidence: float | None = None


class TriggerOut(BaseModel):
    level: str
    evidence: list[EvidenceOut]


class ConsentOut(BaseModel):
    id: int
    decision: str
    terms_version: str
    shown_sha256: str = Field(description="SHA-256 of the exact terms text the prospect saw.")
    decided_at: str | None


class InviteOut(BaseModel):
    id: int
    status: str = Field(description="active, used, expired or superseded.")


class SummaryOut(BaseModel):
    """The qualification summary: never a sensitive value, only what kind of data it was."""

    reason: str | None = None
    level: str | None = None
    state: str | None = None
    language: str | None = None
    asked_about: list[str] = Field(default_factory=list)
    trigger: TriggerOut | None = Field(
        default=None, description="The message that reached the threshold: its level and rules."
    )
    consent: ConsentOut | None = None
    invite: InviteOut | None = None
    qualification: dict[str, str | bool | None] | None = Field(
        default=None,
        description="The prospect's answers to the bot's questions (product, existing_client, "
        'country, language, contact_time; "skipped" where they chose not to say) and '
        "whether every question was answered.",
    )
    transcript: str | None = Field(default=None, description="A link to the transcript.")


class TranscriptLineOut(BaseModel):
    at: datetime
    direction: str = Field(description="inbound (the prospect) or outbound (to the prospect).")
    text: str
    level: str | None = Field(description="An inbound message's sensitivity level.")
    kind: str | None = Field(description="An outbound message's kind (reply, protocol, advisor).")
    status: str | None
    error: str | None = Field(default=None, description="Why an outbound message failed.")


class HandoffDetailOut(BaseModel):
    handoff: HandoffOut
    summary: SummaryOut
    transcript: list[TranscriptLineOut]
    can_reply: bool = Field(description="Whether a WhatsApp reply may be sent now.")
    reply_refusal: str | None = Field(description="Why not, in plain words, when it may not.")
    window_closes_at: datetime | None = Field(
        default=None,
        description="When WhatsApp's 24-hour window for free-form replies closes (or "
        "closed); null when the prospect never wrote.",
    )
    follow_up: str | None = Field(
        default=None,
        description="When only the window stops a reply: the text of the flow's approved "
        "template that `POST .../follow-up` sends instead, asking the prospect to write "
        "again; null otherwise.",
    )


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=1600, description="The WhatsApp message to send.")


class ReplyOut(BaseModel):
    outbox_id: int = Field(description="The queued outbound message; it is sent by the worker.")
    conversation_id: str
    status: str
    text: str


# -- views ------------------------------------------------------------------------------


def handoff_out(view: HandoffView) -> HandoffOut:
    return HandoffOut.model_validate(view, from_attributes=True)


def handoffs_out(views: list[HandoffView], now: datetime) -> HandoffsOut:
    return HandoffsOut(handoffs=[handoff_out(v) for v in views], updated_at=now)


def detail_out(detail: HandoffDetail) -> HandoffDetailOut:
    return HandoffDetailOut(
        handoff=handoff_out(detail.handoff),
        summary=SummaryOut.model_validate(detail.summary),
        transcript=[
            TranscriptLineOut.model_validate(line, from_attributes=True)
            for line in detail.transcript
        ],
        can_reply=detail.reply_refusal is None,
        reply_refusal=detail.reply_refusal,
        window_closes_at=detail.window_closes_at,
        follow_up=detail.follow_up,
    )


# -- authentication ---------------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False,
    description=(
        "A per-user API token, made with `gangway users token EMAIL --name NAME`; it "
        "expires (90 days by default) and can be revoked on its own."
    ),
)


def _api_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    container = container_of(request)
    user = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        user = sign_ins.api_actor(
            container.sessions,
            credentials.credentials,
            container.clock.now(),
            container.routing.current(),
        )
    if user is None:
        raise HTTPException(
            401, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


ApiActor = Annotated[Actor, Depends(_api_actor)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No valid API token."},
    404: {"model": ErrorOut, "description": "No such handoff, or not one the caller may read."},
}
_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    400: {"model": ErrorOut, "description": "Not possible in the handoff's current status."},
    403: {"model": ErrorOut, "description": "The caller may read this handoff but not change it."},
}


def _refused(exc: HandoffError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


# -- routes -----------------------------------------------------------------------------


@router.get("/handoffs", responses=_ERRORS)
def list_handoffs(request: Request, actor: ApiActor, include_closed: bool = False) -> HandoffsOut:
    """The handoffs the caller may read, newest activity first."""
    container = container_of(request)
    now = container.clock.now()
    views = handoff_views.queue_of(container.sessions, actor, now, include_closed=include_closed)
    return handoffs_out(views, now)


@router.get("/handoffs/{handoff_id}", responses=_ERRORS)
def get_handoff(request: Request, actor: ApiActor, handoff_id: RowId) -> HandoffDetailOut:
    """One handoff: its summary and the conversation's transcript with each message's level."""
    container = container_of(request)
    flow = container.flows.current()
    try:
        detail = handoff_views.detail_of(
            container.sessions, actor, handoff_id, container.clock.now(), flow
        )
    except HandoffError as exc:
        raise _refused(exc) from exc
    return detail_out(detail)


def evidence_response(download: EvidenceDownload) -> Response:
    """The bundle as a file to save, never kept by a browser or proxy: it holds personal data."""
    return Response(
        download.body,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{download.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/handoffs/{handoff_id}/evidence",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The evidence bundle: conversation.json, transcript.json, "
            "events.json, consent.json, invites.json, handoffs.json, secure_transcript.json, "
            "transcript.html and "
            "manifest.json (every file's SHA-256 and the audit chain's verification).",
        },
        **_ERRORS,
        403: {"model": ErrorOut, "description": "Only compliance may download evidence."},
    },
)
def download_evidence(request: Request, actor: ApiActor, handoff_id: RowId) -> Response:
    """The evidence bundle of the handoff's conversation as a zip, every message opened;
    each download is recorded in the audit log (who, which conversation, the zip's and
    the manifest's SHA-256)."""
    container = container_of(request)
    try:
        download = evidence_download.download_evidence(
            container.sessions, actor, handoff_id, container.clock.now()
        )
    except HandoffError as exc:
        raise _refused(exc) from exc
    return evidence_response(download)


def change_handoff(
    container: ConsoleContainer, actor: Actor, handoff_id: int, change: HandoffChange
) -> HandoffView:
    """Claim, release or close, for the pages and the API alike (HandoffError if refused)."""
    return act(
        container.sessions,
        actor,
        handoff_id,
        change,
        container.clock.now(),
        container.handoff_events,
        container.handoff_router,
    )


def _change(request: Request, actor: Actor, handoff_id: int, change: HandoffChange) -> HandoffOut:
    try:
        changed = change_handoff(container_of(request), actor, handoff_id, change)
    except HandoffError as exc:
        raise _refused(exc) from exc
    return handoff_out(changed)


@router.post("/handoffs/{handoff_id}/claim", responses=_CHANGE_ERRORS)
def claim_handoff(request: Request, actor: ApiActor, handoff_id: RowId) -> HandoffOut:
    """Take the handoff: it becomes the caller's, and its escalation timer stops."""
    return _change(request, actor, handoff_id, "claim")


@router.post("/handoffs/{handoff_id}/release", responses=_CHANGE_ERRORS)
def release_handoff(request: Request, actor: ApiActor, handoff_id: RowId) -> HandoffOut:
    """Give a claimed handoff back: it is routed again, not to the caller."""
    return _change(request, actor, handoff_id, "release")


@router.post("/handoffs/{handoff_id}/close", responses=_CHANGE_ERRORS)
def close_handoff(request: Request, actor: ApiActor, handoff_id: RowId) -> HandoffOut:
    """Close the handoff: nothing more is expected of anyone."""
    return _change(request, actor, handoff_id, "close")


@router.post(
    "/handoffs/{handoff_id}/reply",
    status_code=201,
    responses={
        **_CHANGE_ERRORS,
        409: {
            "model": ErrorOut,
            "description": "The conversation reached the threshold (continue in the secure "
            "channel), the prospect opted out, or WhatsApp's 24-hour window closed (send "
            "the follow-up template instead).",
        },
    },
)
def reply_to_handoff(
    request: Request, actor: ApiActor, handoff_id: RowId, body: ReplyIn
) -> ReplyOut:
    """Send the prospect a WhatsApp message, only while the conversation is below the
    flow's threshold and within 24 hours of the prospect's last message; it is recorded
    and sent by the worker."""
    container = container_of(request)
    try:
        queued = advisor_messages.reply(
            container.sessions,
            actor,
            handoff_id,
            body.text,
            container.clock.now(),
            container.flows.current(),
        )
    except HandoffError as exc:
        raise _refused(exc) from exc
    return ReplyOut.model_validate(queued, from_attributes=True)


@router.post(
    "/handoffs/{handoff_id}/follow-up",
    status_code=201,
    responses={
        **_CHANGE_ERRORS,
        409: {
            "model": ErrorOut,
            "description": "The conversation reached the threshold, the prospect opted out, "
            "or the flow names no `advisor_follow_up` template.",
        },
    },
)
def send_follow_up(request: Request, actor: ApiActor, handoff_id: RowId) -> ReplyOut:
    """Send the prospect the flow's approved follow-up template (allowed after WhatsApp's
    24-hour window closed), asking them to write again; it is recorded and sent by the
    worker. The text is the one `follow_up` showed."""
    container = container_of(request)
    try:
        queued = advisor_messages.follow_up(
            container.sessions, actor, handoff_id, container.clock.now(), container.flows.current()
        )
    except HandoffError as exc:
        raise _refused(exc) from exc
    return ReplyOut.model_validate(queued, from_attributes=True)
