"""The whole pipeline on one machine: emulators, the four functions served by
functions-framework, and Pub/Sub push subscriptions wired as Terraform wires them.

`make run` and the end-to-end tests both drive a `LocalPipeline`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from stack.emulators import HOST, ChildProcess, EmulatorError, Emulators

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_SOURCE = ROOT / "functions" / "main.py"
CONSUMERS = {"archive_story": "archive", "post_to_telegram": "telegram"}
DEAD_LETTER_SUFFIX = "-dead-letter"
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SubscriptionPolicy:
    """Delivery settings of each push subscription; Terraform's defaults, in seconds."""

    ack_deadline_s: int = 330
    min_backoff_s: int = 10
    max_backoff_s: int = 600
    max_delivery_attempts: int = 10
    # The Pub/Sub emulator fails to dead-letter a message of an ordered subscription
    # (a NullPointerException in its push loop, after which that ordering key stalls),
    # so the dead-letter test turns ordering off; the cloud does both.
    ordering: bool = True


@dataclass
class FunctionServer(ChildProcess):
    """An entry point of functions/main.py (its `name`) under functions-framework."""

    def command(self) -> list[str]:
        return [
            str(Path(sys.executable).parent / "functions-framework"),
            f"--target={self.name}",
            f"--source={FUNCTIONS_SOURCE}",
            f"--host={HOST}",
            f"--port={self.port}",
        ]

    def answers(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((HOST, self.port), timeout=1),
        ):
            return True
        return False

    def start(self, env: Mapping[str, str]) -> None:
        self.launch(env, cwd=FUNCTIONS_SOURCE.parent)

    def stop(self) -> None:
        """Kills it at once, as an instance dies mid-request; its log is kept."""
        self.kill(grace_s=0)


@contextmanager
def serving(target: str, env: Mapping[str, str]) -> Iterator[FunctionServer]:
    """One entry point served on a free port for as long as the block runs."""
    server = FunctionServer(target)
    server.start(env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.close()


class LocalPipeline:
    """Emulators, function servers and subscriptions, started and stopped together."""

    def __init__(
        self,
        settings_env: Mapping[str, str],
        policy: SubscriptionPolicy | None = None,
        emulators: Emulators | None = None,
    ) -> None:
        self.settings_env = dict(settings_env)
        self.project = self.settings_env["GOOGLE_CLOUD_PROJECT"]
        self.policy = policy or SubscriptionPolicy()
        self.emulators = emulators or Emulators(self.project)
        self._own_emulators = emulators is None
        self.functions = {
            target: FunctionServer(target)
            for target in (
                "fetch_stories",
                "archive_story",
                "post_to_telegram",
                "stories_json",
            )
        }

    @property
    def topic(self) -> str:
        return self.settings_env.get("STORIES_TOPIC", "instapipe-stories")

    @property
    def dead_letter_subscription(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.topic}{DEAD_LETTER_SUFFIX}"

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.emulators.env(), **self.settings_env}

    def url(self, target: str) -> str:
        return self.functions[target].url

    def start(self) -> None:
        try:
            if self._own_emulators:
                self.emulators.start()
            self._create_bucket()
            self._create_topics()
            env = self.env()
            for server in self.functions.values():
                server.start(env)
            for server in self.functions.values():
                server.wait_ready()
            self._create_push_subscriptions()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in self.functions.values():
            server.close()
        if self._own_emulators:
            self.emulators.stop()

    def restart(self, target: str) -> None:
        """Kills one function server and starts it again on the same port."""
        server = self.functions[target]
        server.stop()
        server.start(self.env())
        server.wait_ready()

    def tick(self, timeout_s: float = 120.0) -> requests.Response:
        """What Cloud Scheduler does: one POST to the fetch function."""
        return requests.post(self.url("fetch_stories"), timeout=timeout_s)

    def _create_bucket(self) -> None:
        bucket = self.settings_env["MEDIA_BUCKET"]
        response = requests.post(
            f"{self.emulators.storage.url}/storage/v1/b",
            params={"project": self.project},
            json={"name": bucket},
            timeout=10,
        )
        if response.status_code not in (200, 409):
            response.raise_for_status()

    def _pubsub(self, method: str, path: str, body: object = None) -> None:
        response = requests.request(
            method, f"{self.emulators.pubsub.url}/v1/{path}", json=body, timeout=10
        )
        if response.status_code not in (200, 409):
            raise EmulatorError(
                f"{method} {path}: {response.status_code} {response.text}"
            )

    def _create_topics(self) -> None:
        topics = f"projects/{self.project}/topics"
        self._pubsub("PUT", f"{topics}/{self.topic}")
        self._pubsub("PUT", f"{topics}/{self.topic}{DEAD_LETTER_SUFFIX}")
        self._pubsub(
            "PUT",
            self.dead_letter_subscription,
            {"topic": f"{topics}/{self.topic}{DEAD_LETTER_SUFFIX}"},
        )

    def _create_push_subscriptions(self) -> None:
        topics = f"projects/{self.project}/topics"
        for target, name in CONSUMERS.items():
            self._pubsub(
                "PUT",
                f"projects/{self.project}/subscriptions/{self.topic}-{name}",
                {
                    "topic": f"{topics}/{self.topic}",
                    "pushConfig": {"pushEndpoint": self.url(target)},
                    "ackDeadlineSeconds": self.policy.ack_deadline_s,
                    "enableMessageOrdering": self.policy.ordering,
                    "retryPolicy": {
                        "minimumBackoff": f"{self.policy.min_backoff_s}s",
                        "maximumBackoff": f"{self.policy.max_backoff_s}s",
                    },
                    "deadLetterPolicy": {
                        "deadLetterTopic": f"{topics}/{self.topic}{DEAD_LETTER_SUFFIX}",
                        "maxDeliveryAttempts": self.policy.max_delivery_attempts,
                    },
                },
            )
