"""Placeholder until its own issue lands; replaced whole by that work."""

from __future__ import annotations

from instapipe.story import Story


def archive(story: Story) -> None:
    raise NotImplementedError("archiving.archive")
