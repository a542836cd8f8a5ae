"""The private API source against the local Instagram: parsing of recorded trays and
the classification of every failure Instagram answers with."""

from __future__ import annotations

import pytest

from instapipe import config
from instapipe.sources import (
    MalformedError,
    RateLimitedError,
    SessionDeadError,
    SourceError,
    TransientError,
    Tray,
    open_source,
)
from instapipe.story import Location
from stack.fakes import instagram as fakes
from stack.fakes.instagram import FakeInstagram
from tests.fetch_support import (
    OWNER,
    SECOND,
    LogLines,
    instagram,
    log_lines,
    recorded,
    use_private,
)

__all__ = ["instagram", "log_lines"]
CDN = "http://cdn.test/media"


def fetch(*user_ids: str) -> dict[str, Tray]:
    trays = open_source(config.settings()).fetch(list(user_ids))
    return {tray.user_id: tray for tray in trays}


@pytest.fixture
def owner_tray(
    instagram: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> FakeInstagram:
    instagram.media_base_url = CDN
    instagram.add_reels(recorded("reels_media_owner.json"))
    use_private(monkeypatch, instagram, OWNER)
    return instagram


def test_a_photo_keeps_its_largest_candidate_and_location(
    owner_tray: FakeInstagram,
) -> None:
    photo = fetch(OWNER)[OWNER].stories[0]

    assert photo.id == "3300000000000000001"
    assert photo.user_id == OWNER
    assert photo.username == "owner.stories"
    assert not photo.is_video
    assert (photo.width, photo.height) == (1080, 1920)
    assert photo.media_url.startswith(f"{CDN}/v/t51.29350-15/3300000000000000001_1080x")
    assert photo.timestamp == 1796290000
    assert photo.expires_at == 1796290000 + 86400
    assert photo.location == Location("Lisbon, Portugal", 38.7223, -9.1393)
    assert photo.duration_s is None
    assert photo.source == "private"
    assert photo.permalink == (
        "https://www.instagram.com/stories/owner.stories/3300000000000000001/"
    )


def test_a_video_keeps_its_largest_version_its_duration_and_a_cover(
    owner_tray: FakeInstagram,
) -> None:
    video = fetch(OWNER)[OWNER].stories[1]

    assert video.is_video
    assert (video.width, video.height) == (720, 1280)
    assert video.media_url.startswith(f"{CDN}/o1/v/t16/f1/m78/3300000000000000002_720")
    assert video.duration_s == pytest.approx(14.933)
    assert video.cover_url is not None and "720x1280" in video.cover_url
    assert video.location is None


def test_a_video_without_video_versions_is_skipped_and_named(
    owner_tray: FakeInstagram, log_lines: LogLines
) -> None:
    tray = fetch(OWNER)[OWNER]

    assert [story.id for story in tray.stories] == [
        "3300000000000000001",
        "3300000000000000002",
    ]
    assert tray.skipped == 1
    assert tray.error is None
    [warning] = log_lines.matching("story item skipped", "WARNING")
    assert warning["story_id"] == "3300000000000000003"
    assert "video_versions" in warning["reason"]


def test_an_unreadable_item_does_not_stop_the_rest(
    owner_tray: FakeInstagram,
) -> None:
    items = owner_tray.reels[OWNER]["items"]
    items[0] = {**items[0], "media_type": 8, "taken_at": None}

    tray = fetch(OWNER)[OWNER]

    assert [story.id for story in tray.stories] == ["3300000000000000002"]
    assert tray.skipped == 2


def test_several_accounts_share_one_request(
    instagram: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    instagram.add_reels(recorded("reels_media_two_accounts.json"))
    use_private(monkeypatch, instagram, f"{OWNER},{SECOND},3333333333")

    trays = fetch(OWNER, SECOND, "3333333333")

    assert [s.id for s in trays[OWNER].stories] == ["3300000000000000001"]
    assert [s.id for s in trays[SECOND].stories] == ["3300000000000000011"]
    second = trays[SECOND].stories[0]
    assert (second.username, second.location) == ("second.account", None)
    assert (second.width, second.height) == (1080, 1350)
    assert trays["3333333333"] == Tray("3333333333")
    [request] = instagram.requests
    assert request.query["reel_ids"] == [OWNER, SECOND, "3333333333"]


def test_the_batch_limit_splits_the_accounts_into_requests(
    instagram: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    instagram.add_reels(recorded("reels_media_two_accounts.json"))
    use_private(monkeypatch, instagram, f"{OWNER},{SECOND},3", INSTAGRAM_BATCH_SIZE="2")

    trays = fetch(OWNER, SECOND, "3")

    assert len(trays) == 3
    assert [r.query["reel_ids"] for r in instagram.requests] == [[OWNER, SECOND], ["3"]]


def test_an_empty_tray_yields_no_stories(
    instagram: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    instagram.add_reels(recorded("reels_media_empty.json"))
    use_private(monkeypatch, instagram, OWNER)

    assert fetch(OWNER) == {OWNER: Tray(OWNER)}


def test_requests_carry_the_cookie_and_app_headers(owner_tray: FakeInstagram) -> None:
    fetch(OWNER)

    [request] = owner_tray.requests
    assert request.path == "/api/v1/feed/reels_media/"
    assert f"sessionid={owner_tray.sessionid}" in request.headers["Cookie"]
    assert "ds_user_id=8123456789" in request.headers["Cookie"]
    assert request.headers["User-Agent"].startswith("Instagram ")
    assert request.headers["X-IG-App-ID"] == "567067343352427"


def test_a_refused_cookie_is_a_dead_session(
    owner_tray: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTAGRAM_SESSIONID", "999%3Aexpired%3A1")
    config.settings.cache_clear()

    error = fetch(OWNER)[OWNER].error

    assert isinstance(error, SessionDeadError)
    assert "INSTAGRAM_SESSIONID" in str(error)
    assert "999%3Aexpired" not in str(error)


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (fakes.RATE_LIMITED, RateLimitedError),
        (fakes.PLEASE_WAIT, RateLimitedError),
        (fakes.LOGIN_REQUIRED, SessionDeadError),
        (fakes.CHALLENGE, SessionDeadError),
        (fakes.CHECKPOINT, SessionDeadError),
        (fakes.INVALID_JSON, MalformedError),
    ],
)
def test_failures_that_are_not_retried_within_the_tick(
    owner_tray: FakeInstagram, failure: str, kind: type[SourceError]
) -> None:
    owner_tray.fail(failure)

    tray = fetch(OWNER)[OWNER]

    assert type(tray.error) is kind
    assert tray.stories == []
    assert owner_tray.count() == 1


def test_a_tray_quoting_please_wait_is_not_a_rate_limit(
    owner_tray: FakeInstagram,
) -> None:
    owner_tray.reels[OWNER]["items"][0]["accessibility_caption"] = (
        "Please wait a few minutes before you try again."
    )

    tray = fetch(OWNER)[OWNER]

    assert tray.error is None
    assert len(tray.stories) == 2


def test_a_429_carries_its_retry_after(owner_tray: FakeInstagram) -> None:
    owner_tray.fail(fakes.RATE_LIMITED)

    error = fetch(OWNER)[OWNER].error

    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == 600


def test_a_server_error_is_retried_within_the_tick(
    owner_tray: FakeInstagram, log_lines: LogLines
) -> None:
    owner_tray.fail(fakes.SERVER_ERROR)

    tray = fetch(OWNER)[OWNER]

    assert tray.error is None
    assert len(tray.stories) == 2
    assert owner_tray.count() == 2
    [retry] = log_lines.matching("instagram request failed, retrying")
    assert "HTTP 500" in retry["error"]


def test_a_hang_past_the_timeout_is_transient_after_every_attempt(
    owner_tray: FakeInstagram,
) -> None:
    owner_tray.fail(fakes.HANG, fakes.HANG, fakes.HANG)

    error = fetch(OWNER)[OWNER].error

    assert isinstance(error, TransientError)
    assert "INSTAGRAM_TIMEOUT_S=0.3" in str(error)
    assert owner_tray.count() == config.settings().instagram_attempts == 3


def test_one_hang_then_an_answer_gets_the_stories(owner_tray: FakeInstagram) -> None:
    owner_tray.fail(fakes.HANG)

    tray = fetch(OWNER)[OWNER]

    assert tray.error is None
    assert len(tray.stories) == 2


def test_an_unreachable_instagram_is_transient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeInstagram().start()
    use_private(monkeypatch, fake, OWNER, INSTAGRAM_ATTEMPTS="2")
    fake.stop()

    error = fetch(OWNER)[OWNER].error

    assert isinstance(error, TransientError)
    assert "connection failed" in str(error)


def test_a_reel_of_the_wrong_shape_is_malformed_for_that_account_only(
    instagram: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    instagram.add_reels(recorded("reels_media_two_accounts.json"))
    instagram.reels[SECOND] = {"user": {"username": "second.account"}, "items": None}
    use_private(monkeypatch, instagram, f"{OWNER},{SECOND}")

    trays = fetch(OWNER, SECOND)

    assert trays[OWNER].error is None
    assert isinstance(trays[SECOND].error, MalformedError)
