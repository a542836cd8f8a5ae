"""The sample account that `make run` serves when no Instagram credential is set.

Its media is made by this project: `PYTHONPATH=functions:. .venv/bin/python -m
stack.sample` draws the photos with Pillow and encodes the video with ffmpeg into
`stack/sample/`, where they are kept in the repository so that `make run` itself needs
neither.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instapipe.story import STORY_LIFETIME_S

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_USER_ID = "4242424242"
SAMPLE_USERNAME = "instapipe.sample"
WIDTH, HEIGHT = 1080, 1920
VIDEO_WIDTH, VIDEO_HEIGHT = 720, 1280
VIDEO_DURATION_S = 6


@dataclass(frozen=True)
class SampleStory:
    file_name: str
    is_video: bool
    width: int
    height: int
    # Seconds before "now" that the story counts as posted.
    age_s: int
    location: tuple[str, float, float] | None = None
    duration_s: float | None = None


STORIES = (
    SampleStory("sunrise.jpg", False, WIDTH, HEIGHT, age_s=5 * 3600),
    SampleStory(
        "harbour.jpg",
        False,
        WIDTH,
        HEIGHT,
        age_s=3 * 3600,
        location=("Lisbon, Portugal", 38.7077, -9.1365),
    ),
    SampleStory(
        "waves.mp4",
        True,
        VIDEO_WIDTH,
        VIDEO_HEIGHT,
        age_s=2 * 3600,
        location=("Praia da Adraga", 38.8027, -9.4702),
        duration_s=VIDEO_DURATION_S,
    ),
    SampleStory("evening.jpg", False, WIDTH, HEIGHT, age_s=40 * 60),
)
_PALETTES = {
    "sunrise.jpg": ((255, 153, 102), (255, 94, 98)),
    "harbour.jpg": ((54, 209, 220), (91, 134, 229)),
    "evening.jpg": ((58, 28, 113), (215, 109, 119)),
}


def path(story: SampleStory) -> Path:
    return SAMPLE_DIR / story.file_name


def draw_photo(file_name: str, title: str) -> None:
    from PIL import Image, ImageDraw, ImageFont

    top, bottom = _PALETTES[file_name]
    image = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    for y in range(HEIGHT):
        mix = y / (HEIGHT - 1)
        color = tuple(
            round(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True)
        )
        draw.line([(0, y), (WIDTH, y)], fill=color)
    font = ImageFont.load_default(size=96)
    draw.text((WIDTH / 2, HEIGHT / 2), title, font=font, fill="white", anchor="mm")
    image.save(SAMPLE_DIR / file_name, "JPEG", quality=78, optimize=True)


def encode_video(file_name: str) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={VIDEO_WIDTH}x{VIDEO_HEIGHT}:rate=24"
            f":duration={VIDEO_DURATION_S}",
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-pix_fmt",
            "yuv420p",
            "-b:v",
            "300k",
            "-movflags",
            "+faststart",
            str(SAMPLE_DIR / file_name),
        ],
        check=True,
    )
    # Instagram lists a cover image beside every video.
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(SAMPLE_DIR / file_name),
            "-frames:v",
            "1",
            "-q:v",
            "5",
            str(cover_path(file_name)),
        ],
        check=True,
    )


def cover_path(file_name: str) -> Path:
    return SAMPLE_DIR / (file_name.rsplit(".", 1)[0] + ".jpg")


def main() -> None:
    SAMPLE_DIR.mkdir(exist_ok=True)
    for number, story in enumerate(STORIES, start=1):
        if story.is_video:
            encode_video(story.file_name)
        else:
            draw_photo(story.file_name, f"instapipe sample {number}/{len(STORIES)}")


if __name__ == "__main__":
    main()


def reel_item(
    *,
    pk: int,
    user_id: str,
    username: str,
    taken_at: int,
    media_url: str,
    is_video: bool,
    width: int,
    height: int,
    duration_s: float | None = None,
    location: tuple[str, float, float] | None = None,
) -> dict[str, Any]:
    """One story item in the shape of the private API's `feed/reels_media`."""
    image = media_url if not is_video else media_url.rsplit(".", 1)[0] + ".jpg"
    item: dict[str, Any] = {
        "taken_at": taken_at,
        "pk": pk,
        "id": f"{pk}_{user_id}",
        "media_type": 2 if is_video else 1,
        "expiring_at": taken_at + STORY_LIFETIME_S,
        "original_width": width,
        "original_height": height,
        # Instagram lists smaller renditions too, in no promised order.
        "image_versions2": {
            "candidates": [
                {"width": width // 4, "height": height // 4, "url": image + "?s=small"},
                {"width": width, "height": height, "url": image},
            ]
        },
        "user": {"pk": int(user_id), "username": username},
    }
    if is_video:
        item["video_versions"] = [
            {"type": 101, "width": width, "height": height, "url": media_url},
            {"type": 103, "width": width // 2, "height": height // 2, "url": media_url},
        ]
        item["video_duration"] = duration_s
    if location is not None:
        name, lat, lng = location
        place = {"name": name, "short_name": name.split(",")[0], "lat": lat, "lng": lng}
        item["story_locations"] = [{"is_sticker": 1, "location": place}]
    return item


def reel(user_id: str, username: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A `feed/reels_media` answer holding one account's reel."""
    user = {"pk": int(user_id), "pk_id": user_id, "username": username}
    body = {"id": int(user_id), "user": user, "items": items}
    return {"reels": {user_id: body}, "status": "ok"}


def sample_items(media_base_url: str, now: int, count: int) -> list[dict[str, Any]]:
    """The sample account's first `count` stories, posted relative to `now`."""
    items = []
    for number, story in enumerate(STORIES[:count], start=1):
        items.append(
            reel_item(
                pk=3_400_000_000_000_000_000 + number,
                user_id=SAMPLE_USER_ID,
                username=SAMPLE_USERNAME,
                taken_at=now - story.age_s,
                media_url=f"{media_base_url}/sample/{story.file_name}",
                is_video=story.is_video,
                width=story.width,
                height=story.height,
                duration_s=story.duration_s,
                location=story.location,
            )
        )
    return items
