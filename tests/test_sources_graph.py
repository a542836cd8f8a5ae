"""The Graph API source against the local Instagram: stories, the licensed-music cover,
error classification, and keeping an Instagram Login token alive across cold starts."""

from __future__ import annotations

import hashlib
import time

import pytest

from instapipe import config, store
from instapipe.sources import (
    MalformedError,
    RateLimitedError,
    SessionDeadError,
    Tray,
    open_source,
)
from instapipe.sources.graph import DAY_S, TOKEN_LIFETIME_S, renews_token
from stack.fakes import instagram as fakes
from stack.fakes.instagram import FakeInstagram
from tests.conftest import reset_process_state
from tests.fetch_support import (
    OWNER,
    SECOND,
    LogLines,
    instagram,
    log_lines,
    recorded,
    use_graph,
)

__all__ = ["instagram", "log_lines"]


def fetch(*user_ids: str) -> dict[str, Tray]:
    trays = open_source(config.settings()).fetch(list(user_ids))
    return {tray.user_id: tray for tray in trays}


@pytest.fixture
def graph(instagram: FakeInstagram, monkeypatch: pytest.MonkeyPatch) -> FakeInstagram:
    instagram.add_graph_stories(OWNER, recorded("graph_stories.json"))
    use_graph(monkeypatch, instagram, OWNER)
    return instagram


def test_stories_come_without_size_or_location(graph: FakeInstagram) -> None:
    photo, video, _ = fetch(OWNER)[OWNER].stories

    assert photo.id == "17900000000000001"
    assert photo.username == "owner.stories"
    assert photo.timestamp == 1796290000
    assert photo.expires_at == 1796290000 + 86400
    assert not photo.is_video
    assert photo.source == "graph"
    assert (photo.width, photo.height, photo.location) == (None, None, None)
    assert photo.permalink is not None and photo.permalink.endswith(
        "/3300000000000000001/"
    )
    assert video.is_video
    assert video.media_url.split("?")[0].endswith("17900000000000002.mp4")
    assert video.cover_url is not None and "_thumb.jpg" in video.cover_url
    assert not video.media_is_cover


def test_a_licensed_music_video_comes_as_its_cover(graph: FakeInstagram) -> None:
    cover = fetch(OWNER)[OWNER].stories[2]

    assert cover.is_video
    assert cover.media_is_cover
    assert cover.media_url == cover.cover_url
    assert "17900000000000003_thumb.jpg" in cover.media_url


def test_each_account_is_its_own_request_with_the_token(
    graph: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_graph(monkeypatch, graph, f"{OWNER},{SECOND}")

    trays = fetch(OWNER, SECOND)

    assert len(trays[OWNER].stories) == 3
    assert trays[SECOND] == Tray(SECOND)
    assert [r.path for r in graph.requests] == [
        f"/v21.0/{OWNER}/stories",
        f"/v21.0/{SECOND}/stories",
    ]
    assert graph.requests[0].query["access_token"] == [graph.access_token]
    assert "media_url" in graph.requests[0].query["fields"][0]


def test_an_item_without_media_is_skipped(graph: FakeInstagram) -> None:
    del graph.graph_stories[OWNER][0]["media_url"]

    tray = fetch(OWNER)[OWNER]

    assert [s.id for s in tray.stories] == ["17900000000000002", "17900000000000003"]
    assert tray.skipped == 1


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (fakes.LOGIN_REQUIRED, SessionDeadError),
        (fakes.RATE_LIMITED, RateLimitedError),
        (fakes.INVALID_JSON, MalformedError),
    ],
)
def test_graph_errors_are_classified(
    graph: FakeInstagram, failure: str, kind: type[Exception]
) -> None:
    graph.fail(failure)

    assert type(fetch(OWNER)[OWNER].error) is kind
    assert graph.count() == 1


def test_a_rate_limit_stops_the_tick_for_every_account(
    graph: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_graph(monkeypatch, graph, f"{OWNER},{SECOND}")
    graph.fail(fakes.RATE_LIMITED)

    trays = fetch(OWNER, SECOND)

    assert isinstance(trays[OWNER].error, RateLimitedError)
    assert trays[SECOND].error is trays[OWNER].error
    assert graph.count() == 1


def test_a_transient_graph_error_is_retried(graph: FakeInstagram) -> None:
    graph.fail(fakes.SERVER_ERROR)

    tray = fetch(OWNER)[OWNER]

    assert tray.error is None
    assert graph.count() == 2


def seed_token_state(fake: FakeInstagram, **fields: object) -> None:
    seed = hashlib.sha256(fake.access_token.encode()).hexdigest()
    store.graph_token_ref().set(
        {
            "seed_sha256": seed,
            "access_token": fake.access_token,
            "first_seen_at": int(time.time()) - 2 * DAY_S,
            **fields,
        }
    )


@pytest.mark.usefixtures("cloud")
def test_a_token_is_refreshed_and_the_cold_start_uses_the_new_one(
    graph: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_graph(monkeypatch, graph, OWNER, INSTAGRAM_TOKEN_REFRESH="true")
    seed_token_state(graph)

    fetch(OWNER)
    reset_process_state()
    tray = fetch(OWNER)

    [refresh] = [r for r in graph.requests if r.path == "/refresh_access_token"]
    assert refresh.query["grant_type"] == ["ig_refresh_token"]
    state = store.graph_token_ref().get().to_dict()
    assert state["access_token"] != graph.access_token
    assert state["access_token"] in graph.tokens
    assert state["expires_at"] == pytest.approx(time.time() + TOKEN_LIFETIME_S, abs=60)
    assert graph.requests[-1].query["access_token"] == [state["access_token"]]
    assert len(tray[OWNER].stories) == 3


@pytest.mark.usefixtures("cloud")
def test_a_token_younger_than_a_day_is_not_refreshed(
    graph: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_graph(monkeypatch, graph, OWNER, INSTAGRAM_TOKEN_REFRESH="true")

    fetch(OWNER)

    assert graph.count("refresh_access_token") == 0
    state = store.graph_token_ref().get().to_dict()
    assert state["access_token"] == graph.access_token
    assert state["first_seen_at"] == pytest.approx(time.time(), abs=60)


@pytest.mark.usefixtures("cloud")
def test_a_token_far_from_expiry_is_left_alone(
    graph: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_graph(monkeypatch, graph, OWNER, INSTAGRAM_TOKEN_REFRESH="true")
    now = int(time.time())
    seed_token_state(graph, refreshed_at=now - 5 * DAY_S, expires_at=now + 55 * DAY_S)

    fetch(OWNER)

    assert graph.count("refresh_access_token") == 0


@pytest.mark.usefixtures("cloud")
def test_an_unrefreshable_token_warns_the_owner_once_a_week_ahead(
    graph: FakeInstagram, monkeypatch: pytest.MonkeyPatch, log_lines: LogLines
) -> None:
    use_graph(monkeypatch, graph, OWNER, INSTAGRAM_TOKEN_REFRESH="true")
    graph.refresh_fails = True
    now = int(time.time())
    seed_token_state(graph, first_seen_at=now - 55 * DAY_S)

    fetch(OWNER)
    reset_process_state()
    # A later attempt, after the retry pause, fails again but warns no more.
    store.graph_token_ref().update({"refresh_attempted_at": now - DAY_S})
    tray = fetch(OWNER)

    assert graph.count("refresh_access_token") == 2
    [error] = log_lines.at("ERROR")
    assert error["message"] == "graph token expires soon and cannot be refreshed"
    state = store.graph_token_ref().get().to_dict()
    assert state["warned_expiry_at"] == now - 55 * DAY_S + TOKEN_LIFETIME_S
    assert "Graph API error 10" in state["refresh_error"]
    assert tray[OWNER].error is None


@pytest.mark.usefixtures("cloud")
def test_a_new_configured_token_replaces_the_refreshed_one(
    graph: FakeInstagram, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_graph(monkeypatch, graph, OWNER, INSTAGRAM_TOKEN_REFRESH="true")
    store.graph_token_ref().set(
        {
            "seed_sha256": "an-older-configured-token",
            "access_token": "IGAArefreshedFromTheOlderToken",
            "first_seen_at": 1,
        }
    )

    tray = fetch(OWNER)

    assert tray[OWNER].error is None
    assert graph.requests[-1].query["access_token"] == [graph.access_token]


@pytest.mark.parametrize(
    ("env", "renews"),
    [
        ({}, False),
        ({"INSTAGRAM_GRAPH_URL": "https://graph.instagram.com/v21.0"}, True),
        (
            {
                "INSTAGRAM_GRAPH_URL": "https://graph.instagram.com/v21.0",
                "INSTAGRAM_TOKEN_REFRESH": "false",
            },
            False,
        ),
        ({"INSTAGRAM_TOKEN_REFRESH": "true"}, True),
    ],
)
def test_only_instagram_login_tokens_are_renewed_unless_told(
    env: dict[str, str], renews: bool
) -> None:
    settings = config.load(
        {
            "GOOGLE_CLOUD_PROJECT": "instapipe-test",
            "INSTAGRAM_USER_IDS": OWNER,
            "MEDIA_BUCKET": "instapipe-test-media",
            "INSTAGRAM_SOURCE": "graph",
            **env,
        }
    )

    assert renews_token(settings) is renews
