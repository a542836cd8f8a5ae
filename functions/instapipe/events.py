"""Consuming the stories topic: decode a push delivery, run a handler, decide the ack.

Returning acknowledges the message; raising makes Pub/Sub redeliver it. A message that
cannot be read and a permanent failure are logged once at ERROR and acknowledged, so
neither loops until the dead-letter topic; anything else propagates and is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from instapipe import logs
from instapipe.errors import MessageError, PermanentError
from instapipe.story import Story, decode_push

log = logs.get(__name__)


def consume(data: Any, handle: Callable[[Story], None], consumer: str) -> None:
    """Runs `handle` on the story in a push delivery's `data`."""
    try:
        story, message_id = decode_push(data)
    except MessageError as error:
        log.error(
            "unreadable message acknowledged",
            consumer=consumer,
            message_id=error.message_id,
            error=str(error),
        )
        return
    try:
        handle(story)
    except PermanentError as error:
        log.error(
            "story given up",
            consumer=consumer,
            message_id=message_id,
            error=str(error),
            **story.log_fields(),
        )
