"""Classifying one message with the flow in force: the pipeline the live service,
`gangway classify` and `gangway eval` share, so what is measured is what runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.follow_ups import follow_up, joined
from bot.domain.language import conversation_language
from bot.domain.levels import Level
from bot.domain.sensitivity import Assessment, Context, NluResult, assess
from bot.service_layer.ports import FlowSource, SensitivityScorer, Understanding

__all__ = ["Classifier", "Previous"]


@dataclass(frozen=True)
class Previous:
    """One of the prospect's recent messages in the conversation, and the level it got."""

    text: str
    level: Level


class Classifier:
    """Rasa's NLU and the sensitivity model (each when given) plus the flow's detectors,
    keywords, patterns and media levels, and the context of a follow-up.

    ``understanding`` is None to classify without Rasa (``--no-nlu``, and to measure what
    the NLU adds); ``model`` is None without a trained model, when the flow asks for none.
    Errors of the NLU (``bot.service_layer.errors``) propagate: the caller decides whether to
    retry.
    """

    def __init__(
        self,
        flows: FlowSource,
        understanding: Understanding | None,
        model: SensitivityScorer | None = None,
    ) -> None:
        self._flows = flows
        self._understanding = understanding
        self._model = model

    def language_of(self, text: str, current: str | None = None) -> str:
        """The conversation's language after ``text`` (see bot.domain.language)."""
        flow = self._flows.current()
        return conversation_language(
            current, text, default=flow.default_language, candidates=flow.languages
        )

    def classify(
        self,
        text: str,
        *,
        language: str | None = None,
        media_kinds: Sequence[str] = (),
        previous: Sequence[Previous] = (),
    ) -> Assessment:
        """The level of ``text`` and its evidence. ``previous``: the prospect's recent
        messages, oldest first, which a follow-up ("yes, do it") is judged with."""
        flow = self._flows.current()
        nlu = scores = None
        if self._understanding is not None and text.strip():
            nlu = NluResult.from_rasa(self._understanding.parse(text))
        if self._model is not None and text.strip():
            scores = self._model.score(text)
        context = None
        kind = follow_up(text, language) if previous else None
        if kind is not None:
            with_context = None
            if self._model is not None:
                with_context = self._model.score(joined((p.text for p in previous), text))
            context = Context(kind, max(p.level for p in previous), with_context)
        return assess(
            text,
            flow,
            nlu=nlu,
            scores=scores,
            language=language,
            media_kinds=media_kinds,
            context=context,
        )
