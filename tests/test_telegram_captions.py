"""Captions and the chat budget's arithmetic, without any server."""

from __future__ import annotations

import html
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest

from instapipe import captions, config
from instapipe.errors import ConfigError
from instapipe.story import Location, Story
from instapipe.telegram_budget import next_slot
from stack.fakes.telegram import parse_html

STORY = Story(
    id="3300000000000000401",
    user_id="1111111111",
    username="ana",
    timestamp=1_796_000_000,
    expires_at=1_796_086_400,
    is_video=False,
    media_url="https://cdn.example/p.jpg",
    source="private",
    location=Location("Porto", 41.1496, -8.611),
)
BERLIN = ZoneInfo("Europe/Berlin")


def caption(item: Story = STORY, now: float = 1_796_000_030, **kwargs: object) -> str:
    options = {"timezone": BERLIN, "now": now, "link_instagram": False, **kwargs}
    return captions.story_caption(item, **options)  # type: ignore[arg-type]


def test_the_time_is_local_to_the_configured_zone() -> None:
    text, _ = parse_html(caption())

    # 1796000000 is 2026-11-30 00:53:20 UTC, 01:53 in Berlin (CET).
    assert text.splitlines()[1] == "Mon 30 Nov 2026, 01:53 CET"


@pytest.mark.parametrize(
    ("late_s", "said"),
    [
        (14 * 60, None),
        (16 * 60, "16 min ago"),
        (3 * 3600, "3 h ago"),
        (3 * 3600 + 7 * 60, "3 h 7 min ago"),
        (3 * 86400, "3 days ago"),
    ],
)
def test_a_late_story_says_how_long_ago(late_s: int, said: str | None) -> None:
    text, _ = parse_html(caption(now=STORY.timestamp + late_s))

    when = text.splitlines()[1]
    assert when.endswith(f" · posted {said}") if said else "ago" not in when


def test_a_location_links_to_a_map_at_its_coordinates() -> None:
    _, entities = parse_html(caption())

    assert entities[-1]["url"] == (
        "https://www.google.com/maps/search/?api=1&query=41.1496%2C-8.611"
    )


def test_a_location_without_coordinates_is_plain_text() -> None:
    text, entities = parse_html(caption(replace(STORY, location=Location("Home"))))

    assert text.splitlines()[-1] == "📍 Home"
    assert [e["type"] for e in entities] == ["bold"]


def test_the_instagram_link_is_optional_and_built_when_missing() -> None:
    _, entities = parse_html(caption(link_instagram=True))

    assert entities[-1]["url"] == (
        "https://www.instagram.com/stories/ana/3300000000000000401/"
    )


def test_everything_from_instagram_is_escaped() -> None:
    hostile = replace(
        STORY,
        username='x</b><a href="https://evil">',
        location=Location("<i>&amp;</i> \"q\" 'p'", 1.0, 2.0),
        permalink='https://www.instagram.com/s/?a=1&b="2"',
    )

    text, entities = parse_html(caption(hostile, link_instagram=True))

    assert text.splitlines()[0] == hostile.username
    assert text.splitlines()[2] == "📍 <i>&amp;</i> \"q\" 'p'"
    assert entities[-1]["url"] == hostile.permalink
    assert "https://evil" not in [e.get("url") for e in entities]
    assert html.escape(hostile.username) in caption(hostile)


def test_slots_are_free_while_the_budget_lasts() -> None:
    assert next_slot([100.0, 101.0], start=102.0, max_per_minute=3) == 102.0


def test_a_full_minute_pushes_the_slot_past_its_oldest_message() -> None:
    assert next_slot([100.0, 101.0, 102.0], start=103.0, max_per_minute=3) == 160.0


def test_slots_never_come_before_an_earlier_reservation_or_a_429() -> None:
    assert next_slot([150.0], start=103.0, max_per_minute=20) == 150.0
    assert next_slot([], start=130.0, max_per_minute=20) == 130.0


def test_the_per_minute_budget_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.settings().telegram_max_per_minute == 20

    monkeypatch.setenv("TELEGRAM_MAX_PER_MINUTE", "0")

    with pytest.raises(ConfigError, match="TELEGRAM_MAX_PER_MINUTE='0' is not valid"):
        config.load()
