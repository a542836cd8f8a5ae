"""The sample account that `make run` serves when no Instagram credential is set.

Its media is made by this project: `python -m stack.sample` draws the photos with Pillow
and encodes the video with ffmpeg into `stack/sample/`, where they are kept in the
repository so that `make run` itself needs neither.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

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


def main() -> None:
    SAMPLE_DIR.mkdir(exist_ok=True)
    for number, story in enumerate(STORIES, start=1):
        if story.is_video:
            encode_video(story.file_name)
        else:
            draw_photo(story.file_name, f"instapipe sample {number}/{len(STORIES)}")


if __name__ == "__main__":
    main()
