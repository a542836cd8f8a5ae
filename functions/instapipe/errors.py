"""The few exception types whose difference changes what a caller does.

A Pub/Sub push consumer that raises gets the message redelivered; one that returns
acknowledges it. So every failure is either retryable (raise, try again later) or
permanent (log once, acknowledge, never loop).
"""

from __future__ import annotations


class InstapipeError(Exception):
    """Base of every error instapipe raises on purpose."""


class ConfigError(InstapipeError):
    """A setting is missing or malformed; the message names the variable."""


class RetryableError(InstapipeError):
    """The operation may succeed later: let Pub/Sub or the next tick retry it."""


class PermanentError(InstapipeError):
    """The operation can never succeed as it is: log it once and give up."""


class MessageError(PermanentError):
    """A Pub/Sub message body is not a story instapipe can read."""

    def __init__(self, reason: str, message_id: str = "") -> None:
        super().__init__(reason)
        self.message_id = message_id
