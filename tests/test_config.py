from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from instapipe import config
from instapipe.config import QuietHours, Secret
from instapipe.errors import ConfigError

BASE = {
    "GOOGLE_CLOUD_PROJECT": "instapipe-test",
    "INSTAGRAM_USER_IDS": "1111111111",
    "MEDIA_BUCKET": "instapipe-test-media",
}


def load(**overrides: str) -> config.Settings:
    return config.load({**BASE, **overrides})


def test_defaults_with_only_the_required_variables() -> None:
    settings = load()

    assert settings.google_cloud_project == "instapipe-test"
    assert settings.instagram_user_ids == ("1111111111",)
    assert settings.media_bucket == "instapipe-test-media"
    assert settings.instagram_source == "private"
    assert settings.instagram_api_url == "https://i.instagram.com/api/v1"
    assert settings.instagram_graph_url == "https://graph.facebook.com/v21.0"
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.stories_topic == "instapipe-stories"
    assert settings.media_max_bytes == 512 * 1024 * 1024
    assert settings.signed_url_ttl_s == 86400
    assert settings.telegram_timezone == ZoneInfo("UTC")
    assert settings.telegram_quiet_hours is None
    assert not settings.telegram_enabled
    assert not settings.telegram_link_instagram
    assert not settings.api_count_opens


def test_every_variable_is_read() -> None:
    settings = load(
        INSTAGRAM_SOURCE="graph",
        INSTAGRAM_USER_IDS=" 1, 22 ,333,22",
        INSTAGRAM_SESSIONID="session-cookie-value",
        INSTAGRAM_ACCESS_TOKEN="graph-access-token",
        INSTAGRAM_API_URL="http://127.0.0.1:9000/api/v1/",
        INSTAGRAM_GRAPH_URL="http://127.0.0.1:9001/v21.0",
        INSTAGRAM_TIMEOUT_S="2.5",
        TELEGRAM_BOT_TOKEN="123456:telegram-token",
        TELEGRAM_CHAT_ID="-1001234567890",
        TELEGRAM_API_URL="http://127.0.0.1:9002",
        TELEGRAM_TIMEZONE="Europe/Berlin",
        TELEGRAM_QUIET_HOURS="22-7",
        TELEGRAM_LINK_INSTAGRAM="yes",
        TELEGRAM_TIMEOUT_S="20",
        STORIES_TOPIC="my-stories",
        MEDIA_MAX_BYTES="1048576",
        MEDIA_TIMEOUT_S="12",
        SIGNED_URL_TTL_S="3600",
        API_CACHE_S="5",
        API_COUNT_OPENS="true",
    )

    assert settings.instagram_source == "graph"
    assert settings.instagram_user_ids == ("1", "22", "333")
    assert settings.instagram_sessionid == Secret("session-cookie-value")
    assert settings.instagram_credential().reveal() == "graph-access-token"
    assert settings.instagram_api_url == "http://127.0.0.1:9000/api/v1"
    assert settings.instagram_graph_url == "http://127.0.0.1:9001/v21.0"
    assert settings.instagram_timeout_s == 2.5
    assert settings.telegram_enabled
    assert settings.telegram_chat_id == "-1001234567890"
    assert settings.telegram_api_url == "http://127.0.0.1:9002"
    assert settings.telegram_timezone == ZoneInfo("Europe/Berlin")
    assert settings.telegram_quiet_hours == QuietHours(22, 7)
    assert settings.telegram_link_instagram
    assert settings.telegram_timeout_s == 20
    assert settings.stories_topic == "my-stories"
    assert settings.media_max_bytes == 1048576
    assert settings.media_timeout_s == 12
    assert settings.signed_url_ttl_s == 3600
    assert settings.api_cache_s == 5
    assert settings.api_count_opens


@pytest.mark.parametrize("name", sorted(BASE))
def test_a_missing_required_variable_is_named(name: str) -> None:
    env = {k: v for k, v in BASE.items() if k != name}

    with pytest.raises(ConfigError, match=f"^{name} is not set: expected "):
        config.load(env)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("GOOGLE_CLOUD_PROJECT", "My_Project", "a GCP project id"),
        ("INSTAGRAM_USER_IDS", "12,abc", "comma-separated numeric Instagram user ids"),
        ("INSTAGRAM_USER_IDS", ",,", "comma-separated numeric Instagram user ids"),
        ("MEDIA_BUCKET", "UPPER", "a Cloud Storage bucket name"),
        ("MEDIA_BUCKET", "ab", "a Cloud Storage bucket name"),
        ("INSTAGRAM_SOURCE", "scraper", "'private' or 'graph'"),
        ("INSTAGRAM_API_URL", "i.instagram.com/api/v1", "an http(s) URL"),
        ("INSTAGRAM_GRAPH_URL", "ftp://graph.facebook.com", "an http(s) URL"),
        ("INSTAGRAM_TIMEOUT_S", "0", "a positive float of at most 300"),
        ("INSTAGRAM_TIMEOUT_S", "soon", "a positive float of at most 300"),
        ("TELEGRAM_CHAT_ID", "my group", "a numeric chat id"),
        ("TELEGRAM_API_URL", "telegram", "an http(s) URL"),
        ("TELEGRAM_TIMEZONE", "Mars/Olympus", "an IANA time zone"),
        ("TELEGRAM_QUIET_HOURS", "22:00-07:00", "local hours as START-END"),
        ("TELEGRAM_QUIET_HOURS", "7-7", "local hours as START-END"),
        ("TELEGRAM_LINK_INSTAGRAM", "maybe", "true or false"),
        ("TELEGRAM_TIMEOUT_S", "-1", "a positive float"),
        ("STORIES_TOPIC", "9lives", "a Pub/Sub topic id"),
        ("STORIES_TOPIC", "ab", "a Pub/Sub topic id"),
        ("MEDIA_MAX_BYTES", "1.5", "a positive int"),
        ("MEDIA_TIMEOUT_S", "1e9", "a positive float of at most 540"),
        ("SIGNED_URL_TTL_S", "604801", "a positive int of at most 604800"),
        ("API_CACHE_S", "nan", "a positive float"),
        ("API_COUNT_OPENS", "2", "true or false"),
    ],
)
def test_a_malformed_value_is_named_with_what_is_expected(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(**{name: value})

    message = str(raised.value)
    assert message.startswith(f"{name}={value!r} is not valid: expected ")
    assert expected in message


def test_a_bot_token_without_a_chat_id_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^TELEGRAM_CHAT_ID is not set"):
        load(TELEGRAM_BOT_TOKEN="123456:telegram-token")


@pytest.mark.parametrize(
    ("source", "variable"),
    [("private", "INSTAGRAM_SESSIONID"), ("graph", "INSTAGRAM_ACCESS_TOKEN")],
)
def test_the_source_credential_is_demanded_by_name(source: str, variable: str) -> None:
    settings = load(INSTAGRAM_SOURCE=source)

    with pytest.raises(ConfigError, match=f"^{variable} is not set"):
        settings.instagram_credential()


def test_secrets_stay_out_of_repr_and_str() -> None:
    settings = load(
        INSTAGRAM_SESSIONID="session-cookie-value",
        TELEGRAM_BOT_TOKEN="123456:telegram-token",
        TELEGRAM_CHAT_ID="@family_channel",
    )

    shown = repr(settings) + str(settings.instagram_sessionid)
    assert "session-cookie-value" not in shown
    assert "telegram-token" not in shown
    assert "[redacted]" in repr(settings.telegram_bot_token)


def test_settings_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    first = config.settings()
    monkeypatch.setenv("STORIES_TOPIC", "another-topic")

    assert config.settings() is first
    assert config.settings().stories_topic == "instapipe-stories"


@pytest.mark.parametrize(
    ("hours", "inside", "outside"),
    [
        (QuietHours(22, 7), [22, 23, 0, 6], [7, 12, 21]),
        (QuietHours(1, 5), [1, 4], [0, 5]),
    ],
)
def test_quiet_hours_wrap_around_midnight(
    hours: QuietHours, inside: list[int], outside: list[int]
) -> None:
    assert all(hours.contains(hour) for hour in inside)
    assert not any(hours.contains(hour) for hour in outside)
