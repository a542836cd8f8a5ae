"""Shared by the fetch tests and the fetch benchmark: the local Instagram, recorded
answers, log capture, a Pub/Sub subscription to read what was published, and a counter
of Firestore document reads taken at the client library's RPC layer."""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from google.cloud import pubsub_v1
from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

from instapipe import clients, logs
from instapipe.story import Story, decode
from stack.fakes.instagram import FakeInstagram
from tests.conftest import reset_process_state

DATA = Path(__file__).parent / "data" / "instagram"
OWNER = "1111111111"
SECOND = "2222222222"
# Short enough that a scripted hang or retry costs the suite a fraction of a second.
FAST_ENV = {
    "INSTAGRAM_TIMEOUT_S": "0.3",
    "INSTAGRAM_RETRY_BASE_S": "0.01",
}


def recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


@pytest.fixture
def instagram() -> Iterator[FakeInstagram]:
    fake = FakeInstagram(hang_s=2.0).start()
    yield fake
    fake.stop()


def use_private(
    monkeypatch: pytest.MonkeyPatch, fake: FakeInstagram, user_ids: str, **env: str
) -> None:
    """Points the private source at `fake`, as a fresh instance would read it."""
    settings = {
        "INSTAGRAM_USER_IDS": user_ids,
        "INSTAGRAM_API_URL": fake.url,
        "INSTAGRAM_SESSIONID": fake.sessionid,
        **FAST_ENV,
        **env,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    reset_process_state()


def use_graph(
    monkeypatch: pytest.MonkeyPatch, fake: FakeInstagram, user_ids: str, **env: str
) -> None:
    settings = {
        "INSTAGRAM_SOURCE": "graph",
        "INSTAGRAM_USER_IDS": user_ids,
        "INSTAGRAM_GRAPH_URL": fake.graph_url,
        "INSTAGRAM_ACCESS_TOKEN": fake.access_token,
        **FAST_ENV,
        **env,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    reset_process_state()


class LogLines:
    """The JSON log lines written while it is active."""

    def __init__(self) -> None:
        self._stream = io.StringIO()
        logs.configure(stream=self._stream)

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._stream.getvalue().splitlines()]

    def matching(
        self, message: str, severity: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            line
            for line in self.all()
            if line["message"] == message
            and (severity is None or line["severity"] == severity)
        ]

    def at(self, severity: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line["severity"] == severity]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    yield LogLines()
    logs.configure()


class Subscription:
    """A pull subscription on the stories topic, created with the topic itself."""

    def __init__(self, name: str = "fetch-test") -> None:
        project = os.environ["GOOGLE_CLOUD_PROJECT"]
        self.topic = clients.topic_path()
        clients.publisher().create_topic(name=self.topic)
        self._subscriber = pubsub_v1.SubscriberClient()
        self.path = self._subscriber.subscription_path(project, name)
        self._subscriber.create_subscription(
            request={
                "name": self.path,
                "topic": self.topic,
                "enable_message_ordering": True,
            }
        )

    def pull(self) -> list[pubsub_v1.types.PubsubMessage]:
        """Every message waiting now, acknowledged, in delivery order."""
        messages: list[pubsub_v1.types.PubsubMessage] = []
        while True:
            with warnings.catch_warnings():
                # Deprecated in the cloud, but it is how the emulator answers an
                # empty subscription at once instead of holding the pull open.
                warnings.simplefilter("ignore", DeprecationWarning)
                response = self._subscriber.pull(
                    request={
                        "subscription": self.path,
                        "max_messages": 100,
                        "return_immediately": True,
                    },
                    timeout=10,
                )
            if not response.received_messages:
                return messages
            messages.extend(m.message for m in response.received_messages)
            self._subscriber.acknowledge(
                request={
                    "subscription": self.path,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )

    def stories(self) -> list[Story]:
        return [decode(message.data) for message in self.pull()]

    def close(self) -> None:
        self._subscriber.close()


class FirestoreReads:
    """Counts documents read (found or missing) through the Firestore client.

    Wrapping the generated client's streaming calls counts what Firestore bills as
    reads, whichever higher-level call (`get`, `get_all`, a query) asked for them.
    """

    def __init__(self) -> None:
        self.documents = 0

    @contextmanager
    def counting(self) -> Iterator[FirestoreReads]:
        batch_get = FirestoreClient.batch_get_documents
        run_query = FirestoreClient.run_query
        counter = self

        def counted_batch_get(client: Any, *args: Any, **kwargs: Any) -> Any:
            for response in batch_get(client, *args, **kwargs):
                if response.found or response.missing:
                    counter.documents += 1
                yield response

        def counted_query(client: Any, *args: Any, **kwargs: Any) -> Any:
            for response in run_query(client, *args, **kwargs):
                if response.document:
                    counter.documents += 1
                yield response

        FirestoreClient.batch_get_documents = counted_batch_get  # type: ignore[method-assign]
        FirestoreClient.run_query = counted_query  # type: ignore[method-assign]
        try:
            yield self
        finally:
            FirestoreClient.batch_get_documents = batch_get  # type: ignore[method-assign]
            FirestoreClient.run_query = run_query  # type: ignore[method-assign]
