"""The fetch function end to end: the local Instagram in, the Pub/Sub and Firestore
emulators out, through `handle_request` as Cloud Scheduler calls it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Request
from google.cloud import firestore

from instapipe import config, fetching, store
from instapipe.errors import ConfigError
from stack.fakes import instagram as fakes
from stack.fakes.instagram import FakeInstagram
from stack.fakes.telegram import FakeTelegram
from tests.conftest import reset_process_state
from tests.fetch_support import (
    OWNER,
    SECOND,
    FirestoreReads,
    LogLines,
    Subscription,
    instagram,
    log_lines,
    recorded,
    use_private,
)

__all__ = ["instagram", "log_lines"]
pytestmark = pytest.mark.usefixtures("cloud")
PHOTO, VIDEO, BROKEN = (
    "3300000000000000001",
    "3300000000000000002",
    "3300000000000000003",
)
SECOND_PHOTO = "3300000000000000011"
OWNER_CHAT = "-1009876543210"


def call(method: str = "POST") -> tuple[int, dict[str, Any]]:
    response = fetching.handle_request(Request.from_values(method=method))
    return response.status_code, json.loads(response.get_data())


def account(user_id: str = OWNER) -> dict[str, Any]:
    return store.account_ref(user_id).get().to_dict() or {}


def summary_of(body: dict[str, Any], user_id: str = OWNER) -> dict[str, Any]:
    [line] = [a for a in body["accounts"] if a["user_id"] == user_id]
    return line


@pytest.fixture
def subscription() -> Iterator[Subscription]:
    subscribed = Subscription()
    yield subscribed
    subscribed.close()


@pytest.fixture
def owner(instagram: FakeInstagram, monkeypatch: pytest.MonkeyPatch) -> FakeInstagram:
    instagram.add_reels(recorded("reels_media_owner.json"))
    use_private(monkeypatch, instagram, OWNER)
    return instagram


def test_new_stories_are_published_oldest_first_and_recorded(
    owner: FakeInstagram, subscription: Subscription
) -> None:
    items = owner.reels[OWNER]["items"]
    items.reverse()

    status, body = call()

    assert status == 200
    assert body["ok"] is True
    assert summary_of(body) == {
        "user_id": OWNER,
        "status": "ok",
        "new": 2,
        "known": 0,
        "skipped": 1,
        "republished": 0,
        "error": None,
        "error_kind": None,
        "backoff_until": None,
    }
    messages = subscription.pull()
    assert [m.attributes["story_id"] for m in messages] == [PHOTO, VIDEO]
    assert all(m.ordering_key == OWNER for m in messages)
    assert all(m.attributes["user_id"] == OWNER for m in messages)
    assert account()["published"] == {
        PHOTO: 1796290000 + 86400,
        VIDEO: 1796290600 + 86400,
    }


def test_the_message_body_is_the_normalized_story(
    owner: FakeInstagram, subscription: Subscription
) -> None:
    call()

    photo, video = subscription.stories()

    assert photo.location is not None and photo.location.name == "Lisbon, Portugal"
    assert (video.is_video, video.width, video.height) == (True, 720, 1280)


def test_the_same_tray_on_a_second_tick_publishes_nothing(
    owner: FakeInstagram, subscription: Subscription
) -> None:
    call()
    subscription.pull()

    status, body = call()

    assert status == 200
    assert (summary_of(body)["new"], summary_of(body)["known"]) == (0, 2)
    assert subscription.pull() == []


def test_several_accounts_are_published_under_their_own_keys(
    instagram: FakeInstagram,
    monkeypatch: pytest.MonkeyPatch,
    subscription: Subscription,
) -> None:
    instagram.add_reels(recorded("reels_media_two_accounts.json"))
    use_private(monkeypatch, instagram, f"{OWNER},{SECOND}")

    status, _ = call()

    assert status == 200
    keys = {m.attributes["story_id"]: m.ordering_key for m in subscription.pull()}
    assert keys == {PHOTO: OWNER, SECOND_PHOTO: SECOND}
    assert instagram.count() == 1
    assert account(SECOND)["published"] == {SECOND_PHOTO: 1796290300 + 86400}


def test_an_idle_tick_costs_one_request_and_one_read_per_account(
    instagram: FakeInstagram,
    monkeypatch: pytest.MonkeyPatch,
    subscription: Subscription,
) -> None:
    instagram.add_reels(recorded("reels_media_two_accounts.json"))
    watched = [OWNER, SECOND, "3333333333"]
    use_private(monkeypatch, instagram, ",".join(watched))
    call()
    requests_before = instagram.count()

    with FirestoreReads().counting() as reads:
        status, body = call()

    assert status == 200
    assert sum(a["new"] for a in body["accounts"]) == 0
    assert instagram.count() - requests_before == 1
    assert reads.documents == len(watched)


def test_an_empty_tray_writes_nothing(
    instagram: FakeInstagram,
    monkeypatch: pytest.MonkeyPatch,
    subscription: Subscription,
) -> None:
    instagram.add_reels(recorded("reels_media_empty.json"))
    use_private(monkeypatch, instagram, OWNER)

    status, body = call()

    assert status == 200
    assert summary_of(body)["new"] == 0
    assert not store.account_ref(OWNER).get().exists
    assert subscription.pull() == []


def test_a_rate_limit_backs_off_without_calling_instagram_again(
    owner: FakeInstagram, subscription: Subscription, log_lines: LogLines
) -> None:
    owner.fail(fakes.RATE_LIMITED)

    first_status, first = call()
    second_status, second = call()

    assert first_status == 502
    assert summary_of(first)["error_kind"] == "rate_limited"
    assert second_status == 200
    assert summary_of(second)["status"] == "backing_off"
    assert owner.count() == 1
    stored = account()
    assert stored["backoff_until"] == summary_of(first)["backoff_until"]
    assert stored["last_error"]["kind"] == "rate_limited"
    assert subscription.pull() == []
    assert log_lines.at("ERROR") == []


def test_please_wait_backs_off_for_the_configured_time(
    owner: FakeInstagram, monkeypatch: pytest.MonkeyPatch, subscription: Subscription
) -> None:
    use_private(monkeypatch, owner, OWNER, INSTAGRAM_RATE_LIMIT_BACKOFF_S="7200")
    owner.fail(fakes.PLEASE_WAIT)

    status, _ = call()

    assert status == 502
    stored = account()
    assert stored["backoff_until"] - stored["last_error"]["at"] == 7200
    assert "session_dead_since" not in stored


def test_the_tick_after_the_back_off_fetches_and_clears_it(
    owner: FakeInstagram, subscription: Subscription
) -> None:
    store.account_ref(OWNER).set(
        {"backoff_until": 1, "last_error": {"kind": "rate_limited", "at": 0}}
    )

    status, body = call()

    assert status == 200
    assert summary_of(body)["new"] == 2
    assert {"backoff_until", "last_error"}.isdisjoint(account())


def test_a_dead_session_is_reported_once_per_incident_and_its_recovery(
    owner: FakeInstagram, subscription: Subscription, log_lines: LogLines
) -> None:
    owner.fail(fakes.LOGIN_REQUIRED, fakes.CHALLENGE, fakes.LOGIN_REQUIRED)

    statuses = [call()[0] for _ in range(3)]
    dead_since = account()["session_dead_since"]
    recovered_status, body = call()

    assert statuses == [502, 502, 502]
    [alert] = log_lines.at("ERROR")
    assert alert["message"] == "instagram session dead"
    assert alert["user_ids"] == [OWNER]
    assert owner.sessionid not in json.dumps(log_lines.all())
    assert log_lines.matching("owner alert not sent") == []
    assert dead_since > 0
    assert recovered_status == 200
    assert summary_of(body)["new"] == 2
    assert len(log_lines.matching("instagram session recovered", "INFO")) == 1
    assert "session_dead_since" not in account()
    assert "last_error" not in account()


def test_the_owner_is_told_in_telegram_once_when_the_session_dies_and_recovers(
    owner: FakeInstagram, subscription: Subscription, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram = FakeTelegram().start()
    telegram.add_chat(OWNER_CHAT)
    monkeypatch.setenv("TELEGRAM_API_URL", telegram.url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", telegram.token)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", OWNER_CHAT)
    reset_process_state()
    owner.fail(fakes.LOGIN_REQUIRED, fakes.CHALLENGE)

    statuses = [call()[0] for _ in range(3)]

    telegram.stop()
    assert statuses == [502, 502, 200]
    dead, recovered = [m.text for m in telegram.posted(OWNER_CHAT)]
    assert "no longer accepts the session" in dead
    assert "INSTAGRAM_SESSIONID" in dead
    assert "accepts the session again" in recovered
    assert owner.sessionid not in dead + recovered


def test_an_account_joining_an_open_incident_raises_no_second_alarm(
    instagram: FakeInstagram,
    monkeypatch: pytest.MonkeyPatch,
    subscription: Subscription,
    log_lines: LogLines,
) -> None:
    store.account_ref(OWNER).set({"session_dead_since": 1})
    use_private(monkeypatch, instagram, f"{OWNER},{SECOND}")
    instagram.fail(fakes.LOGIN_REQUIRED)

    status, _ = call()

    assert status == 502
    assert log_lines.at("ERROR") == []
    assert account(SECOND)["session_dead_since"] > 0
    assert account(OWNER)["session_dead_since"] == 1


def test_a_transient_failure_is_retried_within_the_tick(
    owner: FakeInstagram, subscription: Subscription
) -> None:
    owner.fail(fakes.SERVER_ERROR)

    status, body = call()

    assert status == 200
    assert summary_of(body)["new"] == 2
    assert owner.count() == 2


def test_a_hang_on_every_attempt_fails_the_tick_and_loses_nothing(
    owner: FakeInstagram, subscription: Subscription
) -> None:
    owner.fail(fakes.HANG, fakes.HANG, fakes.HANG)

    status, body = call()
    later_status, later = call()

    assert status == 502
    assert summary_of(body)["error_kind"] == "transient"
    assert "backoff_until" not in account()
    assert later_status == 200
    assert summary_of(later)["new"] == 2


def test_invalid_json_fails_the_tick(
    owner: FakeInstagram, subscription: Subscription
) -> None:
    owner.fail(fakes.INVALID_JSON)

    status, body = call()

    assert status == 502
    assert summary_of(body)["error_kind"] == "malformed"
    assert account()["last_error"]["kind"] == "malformed"


def test_an_unconfirmed_publish_is_not_recorded_and_comes_again(
    owner: FakeInstagram, log_lines: LogLines
) -> None:
    status, body = call()
    subscription = Subscription()
    later_status, later = call()

    assert status == 500
    assert summary_of(body)["error_kind"] == "publish"
    assert summary_of(body)["new"] == 0
    assert later_status == 200
    assert summary_of(later)["new"] == 2
    assert [m.attributes["story_id"] for m in subscription.pull()] == [PHOTO, VIDEO]
    subscription.close()


def test_expired_stories_are_forgotten_once_gone_from_the_tray(
    owner: FakeInstagram, subscription: Subscription
) -> None:
    fetching.tick()
    expiry = account()["published"][PHOTO]
    fetching.tick(now=expiry + 1)
    kept_while_live = dict(account()["published"])
    owner.reels.clear()

    fetching.tick(now=expiry + 1)

    assert kept_while_live == {PHOTO: expiry, VIDEO: expiry + 600}
    assert account()["published"] == {VIDEO: expiry + 600}


def test_a_republish_mark_publishes_the_live_story_again_and_is_removed(
    owner: FakeInstagram, subscription: Subscription
) -> None:
    call()
    subscription.pull()
    store.account_ref(OWNER).update(
        {"republish_story_ids": firestore.ArrayUnion([VIDEO, "3300000000000000999"])}
    )
    owner.media_base_url = "http://cdn.test/fresh"

    status, body = call()

    assert status == 200
    assert summary_of(body)["republished"] == 1
    [again] = subscription.stories()
    assert again.id == VIDEO
    assert again.media_url.startswith("http://cdn.test/fresh/")
    assert account()["republish_story_ids"] == []
    assert call()[1]["accounts"][0]["republished"] == 0
    assert subscription.pull() == []


def test_only_post_and_get_are_accepted(owner: FakeInstagram) -> None:
    response = fetching.handle_request(Request.from_values(method="DELETE"))

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST, GET"
    assert "POST or GET" in json.loads(response.get_data())["error"]
    assert owner.count() == 0


def test_get_runs_a_tick_too(owner: FakeInstagram, subscription: Subscription) -> None:
    status, body = call("GET")

    assert status == 200
    assert summary_of(body)["new"] == 2


def test_a_missing_cookie_fails_naming_the_variable(
    owner: FakeInstagram, monkeypatch: pytest.MonkeyPatch, log_lines: LogLines
) -> None:
    monkeypatch.delenv("INSTAGRAM_SESSIONID")
    config.settings.cache_clear()

    status, body = call()

    assert status == 500
    assert "INSTAGRAM_SESSIONID is not set" in body["error"]
    assert owner.count() == 0


def test_fetch_settings_are_read() -> None:
    settings = config.load(
        {
            "GOOGLE_CLOUD_PROJECT": "instapipe-test",
            "INSTAGRAM_USER_IDS": OWNER,
            "MEDIA_BUCKET": "instapipe-test-media",
            "INSTAGRAM_BATCH_SIZE": "20",
            "INSTAGRAM_ATTEMPTS": "5",
            "INSTAGRAM_RETRY_BASE_S": "0.5",
            "INSTAGRAM_RATE_LIMIT_BACKOFF_S": "900",
            "INSTAGRAM_TOKEN_REFRESH": "no",
        }
    )

    assert settings.instagram_batch_size == 20
    assert settings.instagram_attempts == 5
    assert settings.instagram_retry_base_s == 0.5
    assert settings.instagram_rate_limit_backoff_s == 900
    assert settings.instagram_token_refresh is False


def test_fetch_settings_have_defaults() -> None:
    settings = config.settings()

    assert settings.instagram_batch_size == 50
    assert settings.instagram_attempts == 3
    assert settings.instagram_retry_base_s == 1.0
    assert settings.instagram_rate_limit_backoff_s == 3600
    assert settings.instagram_token_refresh is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INSTAGRAM_BATCH_SIZE", "0"),
        ("INSTAGRAM_BATCH_SIZE", "101"),
        ("INSTAGRAM_ATTEMPTS", "many"),
        ("INSTAGRAM_TOKEN_REFRESH", "maybe"),
    ],
)
def test_bad_fetch_settings_are_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        config.load(
            {
                "GOOGLE_CLOUD_PROJECT": "instapipe-test",
                "INSTAGRAM_USER_IDS": OWNER,
                "MEDIA_BUCKET": "instapipe-test-media",
                name: value,
            }
        )
