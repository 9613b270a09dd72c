"""Classifying one message with the flow in force: the pipeline the live service,
`gangway classify` and `gangway eval` share, so what is measured is what runs."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.language import conversation_language
from bot.domain.sensitivity import Assessment, NluResult, assess
from bot.service_layer.ports import FlowSource, Understanding

__all__ = ["Classifier"]


class Classifier:
    """Rasa's NLU (when given) plus the flow's detectors, keywords, patterns and media levels.

    ``understanding`` is None to classify with the deterministic rules alone (used to
    measure what the NLU adds, and by nothing in the live service). Errors of the NLU
    (``integrations.errors``) propagate: the caller decides whether to retry.
    """

    def __init__(self, flows: FlowSource, understanding: Understanding | None) -> None:
        self._flows = flows
        self._understanding = understanding

    def language_of(self, text: str, current: str | None = None) -> str:
        """The conversation's language after ``text`` (see bot.domain.language)."""
        flow = self._flows.current()
        return conversation_language(
            current, text, default=flow.default_language, candidates=flow.languages
        )

    def classify(
        self, text: str, *, language: str | None = None, media_kinds: Sequence[str] = ()
    ) -> Assessment:
        flow = self._flows.current()
        nlu = None
        if self._understanding is not None and text.strip():
            nlu = NluResult.from_rasa(self._understanding.parse(text))
        return assess(text, flow, nlu=nlu, language=language, media_kinds=media_kinds)
