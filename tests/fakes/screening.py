"""A real Screening on the default flow, with the NLU and the sensitivity model faked:
what a processor built for a test screens with."""

from __future__ import annotations

from typing import Any

from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.service_layer.classification import Classifier
from bot.service_layer.screening import Screening
from bot.service_layer.transition import InviteSettings
from tests.fakes.ports import FakeModel, FakeUnderstanding

INVITE_SECRET = b"screening-tests-secret-012345678"
PUBLIC_URL = "https://gangway.example.com"


def fake_screening(flows: FlowStore | None = None, **parts: Any) -> Screening:
    """Screening with a fake NLU (every message a greeting) and a sensitivity model that
    never fires: the flow's rules and detectors still decide. ``parts`` are Screening's
    optional fields (media, templates, handover, max_chars)."""
    flows = flows or FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    classifier = Classifier(flows, FakeUnderstanding(), FakeModel())
    return Screening(classifier, flows, InviteSettings(INVITE_SECRET, PUBLIC_URL), **parts)
