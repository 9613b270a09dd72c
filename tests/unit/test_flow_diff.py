"""The readable diff of a proposed flow against the live one."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from bot.adapters.flow_files import DEFAULT_FLOW_PATH, load_flow
from bot.domain.flow_diff import SettingChange, WordingChange, diff_flows
from bot.domain.flows import Variant
from bot.domain.levels import Level

LIVE = load_flow(DEFAULT_FLOW_PATH)


def test_the_same_flow_changes_nothing() -> None:
    diff = diff_flows(LIVE, LIVE)
    assert diff.empty and diff.summary() == "no change"


def test_a_reworded_text_shows_only_the_changed_language_side_by_side() -> None:
    texts = {
        **LIVE.protocol.texts,
        "declined": {**LIVE.protocol.texts["declined"], "de": "Schade."},
    }
    proposed = dataclasses.replace(LIVE, protocol=dataclasses.replace(LIVE.protocol, texts=texts))
    [change] = diff_flows(LIVE, proposed).texts
    assert (change.section, change.key) == ("text", "declined")
    assert change.wordings == (
        WordingChange("de", LIVE.protocol.texts["declined"]["de"], "Schade."),
    )


def test_settings_are_listed_plainly() -> None:
    proposed = dataclasses.replace(
        LIVE,
        transition_at=Level.FINANCIAL,
        timers=dataclasses.replace(LIVE.timers, invite_expiry=timedelta(hours=48)),
        variants=(Variant("b", 30, stopped=True, transition_at=Level.ADVICE),),
    )
    diff = diff_flows(LIVE, proposed)
    assert SettingChange("transition_at", "identity", "financial") in diff.settings
    assert SettingChange("timers.invite_expiry", "1d", "2d") in diff.settings
    assert (
        SettingChange("variants.b", "(not set)", "weight 30, stopped, transition_at advice")
        in diff.settings
    )
    assert diff.texts == ()
    assert diff.summary() == "transition_at; timers.invite_expiry; base_weight; variants.b"


def test_a_response_changed_in_the_proposal() -> None:
    responses = {**LIVE.responses, "utter_greet": {**LIVE.responses["utter_greet"], "en": "Hey"}}
    diff = diff_flows(LIVE, dataclasses.replace(LIVE, responses=responses))
    assert [(t.section, t.key) for t in diff.texts] == [("response", "utter_greet")]
    assert diff.summary() == "1 text (utter_greet)"
