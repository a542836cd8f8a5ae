"""Placeholder until its own issue lands; replaced whole by that work."""

from __future__ import annotations

from instapipe.story import Story


def deliver(story: Story) -> None:
    raise NotImplementedError("telegram.deliver")


def send_alert(text: str) -> None:
    """Posts a plain-text notice to the owner's chat; nothing when Telegram is off."""
    raise NotImplementedError("telegram.send_alert")
