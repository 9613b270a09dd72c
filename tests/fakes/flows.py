"""Flow files for tests, made from the shipped default flow."""

from __future__ import annotations

from pathlib import Path

from bot.adapters.flow_files import DEFAULT_FLOW_PATH

# Rasa's intents the default flow could list per level (it lists none: the learned
# model does better without them); tests of the NLU signal list them again.
NLU_INTENTS = {
    "identity": "share_identity",
    "financial": "share_financial",
    "advice": "ask_advice",
    "order": "place_order",
}


def flow_with_intents(directory: Path) -> Path:
    """The default flow with each level listing its Rasa intent; its path."""
    text = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
    for level, intent in NLU_INTENTS.items():
        text = text.replace(f"\n  {level}:\n", f"\n  {level}:\n    intents: [{intent}]\n", 1)
    path = directory / "with-intents.yml"
    path.write_text(text, encoding="utf-8")
    return path
