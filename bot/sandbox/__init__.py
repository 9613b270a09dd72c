"""The local WhatsApp sandbox: a Twilio-compatible Messages API and a chat page."""

from bot.sandbox.app import SandboxConfig, SandboxState, create_app

__all__ = ["SandboxConfig", "SandboxState", "create_app"]
