"""Which short messages are follow-ups of the previous one, and which stand alone."""

from __future__ import annotations

import pytest

from bot.domain.follow_ups import MAX_WORDS, FollowUp, follow_up, joined

PROCEED, CONFIRM, CONTINUE = FollowUp.PROCEED, FollowUp.CONFIRM, FollowUp.CONTINUE


@pytest.mark.parametrize(
    ("text", "language", "kind"),
    [
        ("yes, do it", "en", PROCEED),
        ("the usual amount please", "en", PROCEED),
        ("same as last time", "en", PROCEED),
        ("ja, mach das", "de", PROCEED),
        ("Wie immer bitte", "de", PROCEED),
        ("oui vas-y", "fr", PROCEED),
        ("comme d'hab", "fr", PROCEED),
        ("sí, dale", "es", PROCEED),
        ("lo de siempre", "es", PROCEED),
        ("both please", "en", CONTINUE),
        ("and mine is the same", "en", CONTINUE),
        ("beides", "de", CONTINUE),
        ("les deux", "fr", CONTINUE),
        ("y el otro también", "es", CONTINUE),
        ("yes", "en", CONFIRM),
        ("Genau", "de", CONFIRM),
        ("d'accord 👍", "fr", CONFIRM),
        ("vale", "es", CONFIRM),
    ],
)
def test_short_messages_that_need_the_previous_one_are_follow_ups(
    text: str, language: str, kind: FollowUp
) -> None:
    """Go-aheads, confirmations and continuations, in all four languages."""
    assert follow_up(text, language) is kind


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("what time do you open on saturdays?", "en"),
        ("Was kostet das alles?", "de"),
        ("si je veux ouvrir un compte ?", "fr"),  # "si" is "if" in French
        ("hello", "en"),
        ("", "en"),
        ("yes " + "and more words " * MAX_WORDS, "en"),  # too long to lean on the last one
    ],
)
def test_messages_that_stand_on_their_own_are_not_follow_ups(text: str, language: str) -> None:
    """A full question, another language's false friend or a long message stands alone."""
    assert follow_up(text, language) is None


def test_without_a_known_language_every_languages_phrases_count() -> None:
    """An unknown language falls back to every list."""
    assert follow_up("vas-y", None) is PROCEED
    assert follow_up("vas-y", "it") is PROCEED


def test_a_follow_up_is_read_after_its_context_a_line_each() -> None:
    """The model reads the previous messages first, then the follow-up."""
    assert joined(["a", "b"], "c") == "a\nb\nc"
