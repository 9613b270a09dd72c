"""A tiny sensitivity model, trained in a blink by the real training code on a handful
of invented messages: for tests that need a model file but not the real one's quality."""

from __future__ import annotations

from pathlib import Path

from bot.adapters.model_files import save_model
from bot.adapters.model_training import TrainingSettings, fit
from bot.adapters.training_set import TrainingMessage
from bot.domain.levels import Level
from bot.domain.sensitivity_model import LinearModel

_EXAMPLES: dict[Level, tuple[str, ...]] = {
    Level.PUBLIC: (
        "hi there", "hello", "what are your opening hours", "do you have an app",
        "how much are the fees", "thanks a lot", "bonjour", "hola", "hallo",
        "can i open an account online", "is there a minimum deposit", "bye",
    ),
    Level.IDENTITY: (
        "my passport number is in my drawer, it is X1234", "i was born in march 1990",
        "my address is 12 high street", "my tax number is with you already",
        "geboren am 3. mai 1985", "je suis né le 3 mars 1990",
    ),
    Level.FINANCIAL: (
        "i earn 55k a year", "i have 20 grand in savings", "my salary is 3000 net",
        "i owe 5k on my credit card", "ich verdiene 4000 netto", "tengo 30 mil ahorrados",
    ),
    Level.ADVICE: (
        "should i invest my savings in etfs", "what would you do in my place",
        "is it smart for me to sell now", "sollte ich mein geld anlegen",
        "devrais-je investir", "me conviene invertir",
    ),
    Level.ORDER: (
        "buy 10 tesla shares now", "sell all my apple", "transfer 500 to my landlord",
        "kaufe 10 aktien", "achète 10 actions", "compra 10 acciones",
    ),
}  # fmt: skip


def tiny_messages() -> list[TrainingMessage]:
    """The handful of invented messages, split between two writers."""
    return [
        TrainingMessage(text, "en", level, writer=f"w{i % 2}")
        for level, texts in _EXAMPLES.items()
        for i, text in enumerate(texts)
    ]


def tiny_model(name: str = "sensitivity-tiny") -> LinearModel:
    return fit(tiny_messages(), TrainingSettings(min_df=1), name=name)


def tiny_model_file(directory: Path) -> Path:
    """The tiny model saved in ``directory``; its path."""
    path = directory / "sensitivity-tiny.json.gz"
    save_model(tiny_model(), path, {"trained_for": "tests"})
    return path
