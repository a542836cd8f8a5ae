"""Placeholder until its own issue lands; replaced whole by that work."""

from __future__ import annotations

from instapipe.story import Story


def deliver(story: Story) -> None:
    raise NotImplementedError("telegram.deliver")
