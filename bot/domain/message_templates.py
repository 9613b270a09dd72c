"""WhatsApp message templates: what gangway sends when the 24-hour window is closed.

A flow names, per purpose and language, an approved Twilio Content template (its
Content SID, ``HX`` and 32 hexadecimal digits). The template's wording is the flow's
protocol text of the same name, each placeholder replaced by a numbered variable in
the order the placeholders first appear: ``"Your link: {link}, valid until
{expires}"`` is registered as ``"Your link: {{1}}, valid until {{2}}"`` and sent with
``{"1": link, "2": expires}``. So the text gangway records as sent is exactly the text
WhatsApp shows, and the same rule turns any flow text into its template.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CONTENT_SID",
    "TEMPLATE_LIMIT",
    "TEMPLATE_PURPOSES",
    "TemplateMessage",
    "is_content_sid",
    "template_body",
    "template_variables",
]

# The messages gangway may have to send outside the window: the timers' reminders and
# notices, an advisor's request to the prospect to write again, and the notice of an
# advisor's message in the secure chat.
TEMPLATE_PURPOSES: tuple[str, ...] = (
    "consent_reminder",
    "invite_reminder",
    "invite_expired",
    "advisor_follow_up",
    "secure_message_notice",
)
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
# WhatsApp refuses a template whose text, variables filled in, is longer (Twilio 63021).
TEMPLATE_LIMIT = 1024


def is_content_sid(text: str) -> bool:
    """Whether ``text`` has the shape of a Twilio Content SID."""
    return CONTENT_SID.fullmatch(text) is not None


def template_variables(text: str) -> tuple[str, ...]:
    """The placeholder names of a flow text in the order they first appear: the first
    fills the template's ``{{1}}``, the second ``{{2}}``, and so on."""
    names: list[str] = []
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None and name not in names:
            names.append(name)
    return tuple(names)


def template_body(text: str) -> str:
    """A flow text as a Content template's body: each placeholder as its ``{{n}}``."""
    numbers = {name: index for index, name in enumerate(template_variables(text), start=1)}
    parts = []
    for literal, name, _, _ in string.Formatter().parse(text):
        parts.append(literal)
        if name is not None:
            parts.append(f"{{{{{numbers[name]}}}}}")
    return "".join(parts)


@dataclass(frozen=True)
class TemplateMessage:
    """One template ready to send: its Content SID and variables, and its text as the
    prospect sees it (the flow's text in the template's language, values filled in)."""

    purpose: str
    content_sid: str
    language: str
    variables: Mapping[str, str]
    body: str
