"""Keyword commands: STOP/START, asking for a person, asking for a new link, in en, de, fr, es."""

from __future__ import annotations

import pytest

from bot.domain.commands import Command, CommandMatch, parse_command


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("STOP", None),
        ("stop", None),
        ("Stop.", None),
        ("STOP!!", None),
        ("  stop  ", None),
        ("STOPALL", None),
        ("stop please", "en"),
        ("UNSUBSCRIBE", "en"),
        ("cancel", "en"),
        ("END", "en"),
        ("quit", "en"),
        ("opt out", "en"),
        ("opt-out", "en"),
        ("OPTOUT", "en"),
        ("Stopp", "de"),
        ("abmelden", "de"),
        ("Abbestellen!", "de"),
        ("aufhören", "de"),
        ("stop bitte", "de"),
        ("arrêt", "fr"),
        ("ARRET", "fr"),
        ("STOP SVP", "fr"),
        ("désabonner", "fr"),
        ("Désinscrire", "fr"),
        ("Baja 🙏", "es"),
        ("BAJA", "es"),
        ("dar de baja", "es"),
        ("baja por favor", "es"),
    ],
)
def test_opt_out_keywords_opt_out(text: str, language: str | None) -> None:
    """A message that is only an opt-out word, in any case, with punctuation or emoji, opts out."""
    match = parse_command(text)
    assert match is not None
    assert (match.command, match.language) == (Command.OPT_OUT, language)


@pytest.mark.parametrize(
    "text",
    [
        "please don't stop",
        "can I cancel my order?",
        "stop loss order",
        "stop the transfer",
        "don't stop",
        "the end of the month",
        "quiero dar de baja mi tarjeta",
        "wie kann ich mich abmelden und wieder anmelden?",
    ],
)
def test_opt_out_words_inside_a_sentence_do_not_opt_out(text: str) -> None:
    """An opt-out word inside a sentence is an ordinary message."""
    match = parse_command(text)
    assert match is None or match.command is not Command.OPT_OUT


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("START", None),
        ("Start!", None),
        ("unstop", "en"),
        ("subscribe", "en"),
        ("starten", "de"),
        ("réabonner", "fr"),
        ("alta", "es"),
        ("dar de alta", "es"),
    ],
)
def test_opt_in_keywords_opt_back_in(text: str, language: str | None) -> None:
    """A message that is only an opt-in word opts the number back in."""
    match = parse_command(text)
    assert match is not None
    assert (match.command, match.language) == (Command.OPT_IN, language)


@pytest.mark.parametrize("text", ["yes", "YES", "ja", "oui", "sí", "ok", "let's start with fees"])
def test_consent_words_are_not_opt_in(text: str) -> None:
    """ "yes" is consent to terms, never an opt-in; "start" inside a sentence is ordinary."""
    assert parse_command(text) is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("talk to a person", "en"),
        ("I want to speak to a human", "en"),
        ("real person please", "en"),
        ("Agent", None),
        ("can I talk to an advisor?", "en"),
        ("Could you connect me with a real advisor", "en"),
        ("I need a human", "en"),
        ("call me", "en"),
        ("Can you call me back tomorrow?", "en"),
        ("Are you a bot? I want to talk to a person", "en"),
        ("ich möchte mit einem Menschen sprechen", "de"),
        ("Kann ich bitte mit einem Berater sprechen?", "de"),
        ("mit einem Berater sprechen", "de"),
        ("Mitarbeiter bitte", "de"),
        ("echter Mensch", "de"),
        ("Rufen Sie mich bitte an", "de"),
        ("je veux parler à un conseiller", "fr"),
        ("Je voudrais parler avec quelqu'un", "fr"),
        ("un humain svp", "fr"),
        ("un agent svp", "fr"),
        ("pouvez-vous m'appeler ?", "fr"),
        ("quiero hablar con una persona", "es"),
        ("con un agente por favor", "es"),
        ("asesor humano", "es"),
        ("No, quiero hablar con una persona", "es"),
        ("¿Me pueden llamar?", "es"),
    ],
)
def test_asking_for_a_person_requests_a_human(text: str, language: str | None) -> None:
    """Asking for a person, advisor or call, in any of the four languages, requests a human."""
    match = parse_command(text)
    assert match is not None
    assert (match.command, match.language) == (Command.HUMAN, language)


@pytest.mark.parametrize(
    "text",
    [
        "are you a person?",
        "Are you a real human?",
        "bist du ein Mensch?",
        "Sind Sie ein Mensch?",
        "es-tu humain ?",
        "¿eres una persona?",
        "my husband is an agent",
        "I need a personal loan",
        "personal loan",
        "call me Max",
        "talk to you later",
        "I don't want to talk to a person",
        "ich möchte nicht mit einem Menschen sprechen",
        "Ich möchte jemandem Geld überweisen",
        "je ne veux pas parler à un conseiller",
        "no quiero hablar con una persona",
        "me llamo Juan",
        "My advisor told me to talk to a person at my old bank about moving my pension, "
        "which I did last year, and now I want to know what the fees are here for the "
        "same kind of account please",
    ],
)
def test_bot_challenges_and_mentions_are_not_a_human_request(text: str) -> None:
    """Asking if the bot is human, mentioning an agent or refusing a person is no request."""
    match = parse_command(text)
    assert match is None or match.command is not Command.HUMAN


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("send me a new link", "en"),
        ("The link expired", "en"),
        ("the link doesn't work", "en"),
        ("can you resend the invite?", "en"),
        ("neuer Link bitte", "de"),
        ("der Link ist abgelaufen", "de"),
        ("Kannst du mir den Link nochmal schicken?", "de"),
        ("nouveau lien", "fr"),
        ("le lien a expiré", "fr"),
        ("renvoyez-moi le lien svp", "fr"),
        ("nuevo enlace", "es"),
        ("el enlace ha caducado", "es"),
        ("El enlace ha expirado", "es"),
        ("mándame otro enlace", "es"),
    ],
)
def test_asking_for_a_fresh_link_requests_a_new_invite(text: str, language: str) -> None:
    """A prospect whose invite link expired or broke can ask for a new one in their language."""
    match = parse_command(text)
    assert match is not None
    assert (match.command, match.language) == (Command.NEW_INVITE, language)


@pytest.mark.parametrize(
    "text",
    ["I don't need a new link", "the link works, thanks", "is there a link to your prices?"],
)
def test_mentioning_a_link_is_not_asking_for_one(text: str) -> None:
    """A link mentioned without asking for a new one is an ordinary message."""
    assert parse_command(text) is None


@pytest.mark.parametrize("text", ["", "   ", "👍", "hi", "ok", "DE89370400440532013000", "hola"])
def test_ordinary_messages_are_no_command(text: str) -> None:
    """Greetings, emoji and identifiers are not commands."""
    assert parse_command(text) is None


def test_the_match_names_the_phrase_it_found() -> None:
    """The match says which words were recognised, lower-cased and without accents."""
    assert parse_command("Je veux parler à un conseiller !") == CommandMatch(
        Command.HUMAN, "fr", "parler a un conseiller"
    )
    assert parse_command("ARRÊT") == CommandMatch(Command.OPT_OUT, "fr", "arret")
