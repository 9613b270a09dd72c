"""The built-in secure channel's invite landing page.

``GET /secure/invite/{token}`` only looks: WhatsApp and other link previewers fetch the
URLs in a chat, and a GET that used the link would burn it before the prospect tapped.
The prospect's tap on the page's button posts the form, and that POST redeems it.

The pages are shown in the conversation's language, never cached, never sent on as a
Referer (the token is in the URL) and never indexed. What the activation means for the
conversation is not decided here: ``container.on_invite_activated(conversation_id)`` is
called, when the container has it, after the redemption has committed.

A redeemed link opens the secure chat: the redemption and a new device session commit
together, and the answer is a 303 to ``/secure/chat`` with the session's cookie
(``secure_chat``), so the link works once and only the browser that used it is in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from bot.adapters.db import SessionFactory
from bot.entrypoints.routes.secure_chat import chat_response, policy_of
from bot.service_layer import invite_links
from bot.service_layer.ports import Clock

__all__ = ["INVITE_PATH", "PAGE_TEXTS", "SecureChannelContainer", "router"]

router = APIRouter()

INVITE_PATH = "/secure/invite/{token}"

_templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}

Page = Literal["ready", "activated", "expired", "used", "superseded", "unknown"]

# Keys per language: <page>_title and <page>_body for each Page, plus button and fresh
# (how to get a new link, shown on every page that refuses one).
PAGE_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "ready_title": "Your secure channel invitation",
        "ready_body": "This link works once. Tap the button to open your secure channel.",
        "button": "Continue to the secure channel",
        "activated_title": "You're in the secure channel",
        "activated_body": "(placeholder until the real provider is connected)",
        "expired_title": "This link has expired",
        "expired_body": "Invitation links are only valid for a limited time.",
        "used_title": "This link has already been used",
        "used_body": "Each invitation link works only once.",
        "superseded_title": "This link has been replaced",
        "superseded_body": "A newer invitation link was sent to you; only the newest one works.",
        "unknown_title": "This link is not valid",
        "unknown_body": "We could not find an invitation for this link.",
        "fresh": "To get a fresh link, write 'new link' to us on WhatsApp.",
    },
    "de": {
        "ready_title": "Ihre Einladung in den sicheren Kanal",
        "ready_body": "Dieser Link funktioniert nur einmal. Tippen Sie auf die Schaltfläche, "
        "um Ihren sicheren Kanal zu öffnen.",
        "button": "Weiter zum sicheren Kanal",
        "activated_title": "Sie sind im sicheren Kanal",
        "activated_body": "(Platzhalter, bis der echte Anbieter angebunden ist)",
        "expired_title": "Dieser Link ist abgelaufen",
        "expired_body": "Einladungslinks sind nur für begrenzte Zeit gültig.",
        "used_title": "Dieser Link wurde bereits verwendet",
        "used_body": "Jeder Einladungslink funktioniert nur einmal.",
        "superseded_title": "Dieser Link wurde ersetzt",
        "superseded_body": "Sie haben einen neueren Einladungslink erhalten; "
        "nur der neueste funktioniert.",
        "unknown_title": "Dieser Link ist ungültig",
        "unknown_body": "Zu diesem Link haben wir keine Einladung gefunden.",
        "fresh": "Für einen neuen Link schreiben Sie uns auf WhatsApp: 'neuer Link'.",
    },
    "fr": {
        "ready_title": "Votre invitation au canal sécurisé",
        "ready_body": "Ce lien ne fonctionne qu'une fois. Appuyez sur le bouton pour ouvrir "
        "votre canal sécurisé.",
        "button": "Continuer vers le canal sécurisé",
        "activated_title": "Vous êtes dans le canal sécurisé",
        "activated_body": "(espace réservé en attendant le vrai fournisseur)",
        "expired_title": "Ce lien a expiré",
        "expired_body": "Les liens d'invitation ne sont valables que pendant une durée limitée.",
        "used_title": "Ce lien a déjà été utilisé",
        "used_body": "Chaque lien d'invitation ne fonctionne qu'une seule fois.",
        "superseded_title": "Ce lien a été remplacé",
        "superseded_body": "Un lien d'invitation plus récent vous a été envoyé ; "
        "seul le plus récent fonctionne.",
        "unknown_title": "Ce lien n'est pas valide",
        "unknown_body": "Nous n'avons trouvé aucune invitation pour ce lien.",
        "fresh": "Pour recevoir un nouveau lien, écrivez-nous « nouveau lien » sur WhatsApp.",
    },
    "es": {
        "ready_title": "Su invitación al canal seguro",
        "ready_body": "Este enlace funciona una sola vez. Pulse el botón para abrir su "
        "canal seguro.",
        "button": "Continuar al canal seguro",
        "activated_title": "Ya está en el canal seguro",
        "activated_body": "(marcador de posición hasta conectar el proveedor real)",
        "expired_title": "Este enlace ha caducado",
        "expired_body": "Los enlaces de invitación solo son válidos durante un tiempo limitado.",
        "used_title": "Este enlace ya se ha utilizado",
        "used_body": "Cada enlace de invitación funciona una sola vez.",
        "superseded_title": "Este enlace ha sido sustituido",
        "superseded_body": "Le hemos enviado un enlace de invitación más reciente; "
        "solo funciona el más reciente.",
        "unknown_title": "Este enlace no es válido",
        "unknown_body": "No hemos encontrado ninguna invitación para este enlace.",
        "fresh": "Para recibir un enlace nuevo, escríbanos «nuevo enlace» por WhatsApp.",
    },
}
DEFAULT_LANGUAGE = "en"

# The page and HTTP status for each outcome; "activated" from a GET means "would activate".
_GET_PAGES: dict[str, tuple[Page, int]] = {
    "activated": ("ready", 200),
    "expired": ("expired", 410),
    "used": ("used", 410),
    "superseded": ("superseded", 410),
    "unknown": ("unknown", 404),
    "invalid": ("unknown", 404),
}
_POST_PAGES: dict[str, tuple[Page, int]] = {**_GET_PAGES, "activated": ("activated", 200)}


class SecureChannelContainer(Protocol):
    """What these routes need from ``app.state.container``. It may also have
    ``on_invite_activated(conversation_id: str) -> None``."""

    sessions: SessionFactory
    clock: Clock
    invite_secret: bytes


def _container(request: Request) -> SecureChannelContainer:
    container: SecureChannelContainer = request.app.state.container
    return container


def _language(conversation_language: str | None, accept_language: str) -> str:
    """The conversation's language; for a link we cannot tie to one, the browser's."""
    if conversation_language in PAGE_TEXTS:
        return conversation_language
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in PAGE_TEXTS:
            return tag
    return DEFAULT_LANGUAGE


def _page(request: Request, page: Page, status: int, language: str | None) -> HTMLResponse:
    lang = _language(language, request.headers.get("accept-language", ""))
    texts = PAGE_TEXTS[lang]
    context: dict[str, Any] = {
        "lang": lang,
        "page": page,
        "title": texts[f"{page}_title"],
        "body": texts[f"{page}_body"],
        "button": texts["button"] if page == "ready" else None,
        "fresh": texts["fresh"] if page not in ("ready", "activated") else None,
        "action": request.url.path,
    }
    response = _templates.TemplateResponse(
        request, "invite.html", context, status_code=status, headers=_HEADERS
    )
    assert isinstance(response, HTMLResponse)
    return response


@router.get(INVITE_PATH, response_class=HTMLResponse, include_in_schema=False)
async def show_invite(request: Request, token: str) -> HTMLResponse:
    """The confirmation page; it changes nothing, so a link preview cannot use the link."""
    container = _container(request)
    landing = await run_in_threadpool(
        invite_links.look,
        container.sessions,
        token,
        container.invite_secret,
        container.clock.now(),
    )
    page, status = _GET_PAGES[landing.redemption.outcome]
    return _page(request, page, status, landing.language)


@router.post(INVITE_PATH, response_class=HTMLResponse, include_in_schema=False)
async def redeem(request: Request, token: str) -> Response:
    """Use the link: the first POST activates the invite and opens the chat, later ones
    get the 410 page."""
    container = _container(request)
    landing = await run_in_threadpool(
        invite_links.redeem,
        container.sessions,
        token,
        container.invite_secret,
        container.clock.now(),
        policy_of(container),
        getattr(container, "on_invite_activated", None),
    )
    if landing.chat_token is not None:
        return chat_response(request, landing.chat_token)
    page, status = _POST_PAGES[landing.redemption.outcome]
    return _page(request, page, status, landing.language)
