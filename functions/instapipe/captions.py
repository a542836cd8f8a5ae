"""What the family reads under a story in Telegram, in the Bot API's HTML parse mode.

Everything that comes from Instagram (the username, the location name, links) is
escaped; only the tags written here are markup. Times are shown in the configured zone.
"""

from __future__ import annotations

import html
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from instapipe.story import Location, Story

# A story delivered later than this after it was posted says how long ago that was.
LATE_AFTER_S = 15 * 60
MAP_URL = "https://www.google.com/maps/search/?"
INSTAGRAM_STORY_URL = "https://www.instagram.com/stories/{username}/{story_id}/"
TIME_FORMAT = "%a %d %b %Y, %H:%M %Z"
LINK_EXPIRY_FORMAT = "%d %b %Y"


def story_caption(
    story: Story,
    timezone: ZoneInfo,
    now: float,
    link_instagram: bool,
    extra_lines: tuple[str, ...] = (),
) -> str:
    """The HTML caption: who, when, where, optional links; `extra_lines` are HTML."""
    lines = [f"<b>{_escape(story.username)}</b>", _when(story.timestamp, timezone, now)]
    if story.location is not None:
        lines.append(_where(story.location))
    lines.extend(extra_lines)
    if link_instagram:
        lines.append(link(instagram_url(story), "Open on Instagram"))
    return "\n".join(lines)


def link(url: str, text: str) -> str:
    return f'<a href="{_escape(url)}">{_escape(text)}</a>'


def instagram_url(story: Story) -> str:
    if story.permalink:
        return story.permalink
    return INSTAGRAM_STORY_URL.format(username=story.username, story_id=story.id)


def archived_video_line(url: str, expires_at: int, timezone: ZoneInfo) -> str:
    until = datetime.fromtimestamp(expires_at, timezone).strftime(LINK_EXPIRY_FORMAT)
    return f"{link(url, 'Watch the full video')} (link valid until {until})"


def instagram_video_line(story: Story) -> str:
    return (
        f"{link(instagram_url(story), 'Watch the video on Instagram')} "
        "(too large for Telegram; it stays in the story archive)"
    )


def local_time(timestamp: int, timezone: ZoneInfo) -> str:
    return datetime.fromtimestamp(timestamp, timezone).strftime(TIME_FORMAT)


def ago(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min ago" if minutes else f"{hours} h ago"
    return f"{hours // 24} days ago"


def _when(timestamp: int, timezone: ZoneInfo, now: float) -> str:
    text = _escape(local_time(timestamp, timezone))
    late_s = now - timestamp
    if late_s > LATE_AFTER_S:
        text += f" · posted {ago(late_s)}"
    return text


def _where(location: Location) -> str:
    if location.lat is None or location.lng is None:
        return f"📍 {_escape(location.name)}"
    query = urlencode({"api": 1, "query": f"{location.lat},{location.lng}"})
    return f"📍 {link(MAP_URL + query, location.name)}"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
