"""The test harness: an isolated environment per test, real emulators per session.

The emulators start once, on first use, and are emptied before every test that asks for
`cloud`; tests that need no cloud never start them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from instapipe import clients, config
from stack.emulators import Emulators

TEST_PROJECT = "instapipe-test"
TEST_BUCKET = "instapipe-test-media"
BASE_ENV = {
    "GOOGLE_CLOUD_PROJECT": TEST_PROJECT,
    "INSTAGRAM_USER_IDS": "1111111111",
    "MEDIA_BUCKET": TEST_BUCKET,
}
_EMULATOR_SWITCHES = (
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "STORAGE_EMULATOR_HOST",
)
_OWN_PREFIXES = ("INSTAGRAM_", "TELEGRAM_", "MEDIA_", "STORIES_", "SIGNED_", "API_")


def reset_process_state() -> None:
    """Forgets what a cold start reads once, as a new function instance would."""
    config.settings.cache_clear()
    clients.firestore_client.cache_clear()
    clients.publisher.cache_clear()
    clients.storage_client.cache_clear()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_OWN_PREFIXES) or name in _EMULATOR_SWITCHES:
            monkeypatch.delenv(name)
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    reset_process_state()
    yield
    reset_process_state()


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    running = Emulators(TEST_PROJECT)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def cloud(emulators: Emulators, monkeypatch: pytest.MonkeyPatch) -> Emulators:
    """Empty emulators, with the client libraries pointed at them."""
    for name, value in emulators.env().items():
        monkeypatch.setenv(name, value)
    reset_process_state()
    emulators.reset()
    return emulators
