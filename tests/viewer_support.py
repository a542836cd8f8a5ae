"""What the viewer's browser tests stand on: a local stories.json server and real media.

`StoriesServer` serves, over real HTTP on 127.0.0.1, the viewer from `viewer/`, test
pages, `stories.json` answers in the API's shape (scripted per user id, answer by
answer, to play expiring URLs and API errors), and media the way a signed Cloud Storage
URL does (byte ranges, a 400 `ExpiredToken` for an expired signature, a 404 for a lost
object, an optional delay). Media are generated: JPEG and PNG with Pillow, an H.264
MP4 with ffmpeg, which Debian's Chromium plays.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
VIEWER_DIR = ROOT / "viewer"
ARTIFACTS_DIR = ROOT / "artifacts" / "viewer"
HOST = "127.0.0.1"
USER_ID = "1111111111"
USERNAME = "owner"
EXPIRED_SIGNATURE = "expired"
EXPIRED_BODY = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code>"
    b"<Message>The provided token has expired.</Message></Error>"
)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

Answer = list[dict[str, Any]] | tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Media:
    body: bytes
    content_type: str
    width: int
    height: int
    duration_s: float | None = None


def photo(width: int, height: int, color: str, label: str, fmt: str = "JPEG") -> Media:
    """A real image: a colour field with a label, so screenshots show which story."""
    image = Image.new("RGB", (width, height), color)
    draw = ImageDraw.Draw(image)
    draw.ellipse(
        (width // 4, height // 3, width * 3 // 4, height // 3 + width // 2),
        fill="white",
    )
    draw.text((width // 2, height // 3 + width // 4), label, fill="black", anchor="mm")
    out = io.BytesIO()
    image.save(out, fmt, quality=80)
    return Media(out.getvalue(), f"image/{fmt.lower()}", width, height)


def video(duration_s: float = 1.5, width: int = 180, height: int = 320) -> Media:
    """A real H.264 baseline MP4 with its index up front, as phones record them."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError(
            "ffmpeg is missing: the viewer tests need it to make a test video; "
            "install the Debian package ffmpeg (scripts/install-system-deps does)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "story.mp4"
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
             f"testsrc2=size={width}x{height}:rate=15", "-t", str(duration_s),
             "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
             "-movflags", "+faststart", str(out)],
            check=True,
            timeout=60,
        )  # fmt: skip
        return Media(out.read_bytes(), "video/mp4", width, height, duration_s)


@dataclass
class StoriesServer:
    """The stories.json API, the media bucket and the web host of the tests, in one."""

    media: dict[str, Media] = field(default_factory=dict)
    feeds: dict[str, list[Answer]] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    media_delay_s: dict[str, float] = field(default_factory=dict)
    feed_delay_s: float = 0.0
    feed_cache_control: str = "no-store"
    requests: list[str] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def reset(self) -> None:
        self.feeds.clear()
        self.pages.clear()
        self.missing.clear()
        self.media_delay_s.clear()
        self.feed_delay_s = 0.0
        self.feed_cache_control = "no-store"
        self.requests.clear()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://{HOST}:{self._httpd.server_address[1]}"

    def feed_url(self, user_id: str = USER_ID) -> str:
        return f"{self.url}/api/stories.json?user_id={user_id}"

    def page(self, body: str, script: bool = True) -> str:
        """Registers a page that loads the viewer (or not), and answers its URL."""
        name = f"/page{len(self.pages)}.html"
        head = '<script src="/viewer/instapipe.js"></script>' if script else ""
        self.pages[name] = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>viewer test</title>{head}"
            f"</head><body>{body}</body></html>"
        )
        return self.url + name

    def story(
        self,
        number: int,
        media: str,
        *,
        age_s: int,
        user_id: str = USER_ID,
        location: str | None = None,
        signature: str = "fresh",
    ) -> dict[str, Any]:
        """One story as stories.json answers it, plus a field the viewer must ignore."""
        item = self.media[media]
        story_id = f"33000000000000{number:05d}"
        now = int(time.time())
        return {
            "id": story_id,
            "user_id": user_id,
            "username": USERNAME,
            "timestamp": now - age_s,
            "expires_at": now - age_s + 86_400,
            "is_video": item.content_type.startswith("video/"),
            "width": item.width,
            "height": item.height,
            "duration_s": item.duration_s,
            "signed_url": f"{self.url}/media/{media}?story={number}&sig={signature}",
            "bucket_path": f"gs://instapipe-test-media/{user_id}/{story_id}/{media}",
            "location": None
            if location is None
            else {"name": location, "lat": 38.72, "lng": -9.14},
            "permalink": f"https://www.instagram.com/stories/{USERNAME}/{story_id}/",
            "source": "private",
        }

    def media_requests(self, story_number: int) -> int:
        return sum(f"story={story_number}&" in path for path in self.requests)

    def feed_requests(self) -> int:
        return sum(
            "stories.json" in path and "event=" not in path for path in self.requests
        )

    def pings(self) -> list[str]:
        return [path for path in self.requests if "event=" in path]

    # ---- serving

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        self.requests.append(request.path)
        parts = urlsplit(request.path)
        if parts.path.endswith("/stories.json"):
            self.answer_feed(request, parse_qs(parts.query))
        elif parts.path.startswith("/media/"):
            self.answer_media(request, parts.path[len("/media/") :], parts.query)
        elif parts.path in self.pages:
            self.send(request, 200, self.pages[parts.path].encode(), "text/html")
        elif parts.path.startswith("/viewer/") and "/.." not in parts.path:
            file = VIEWER_DIR / parts.path[len("/viewer/") :]
            kind = "text/html" if file.suffix == ".html" else "text/javascript"
            if file.is_file():
                self.send(request, 200, file.read_bytes(), kind)
            else:
                self.send(request, 404, b"not found", "text/plain")
        else:
            self.send(request, 404, b"not found", "text/plain")

    def answer_feed(
        self, request: BaseHTTPRequestHandler, query: dict[str, list[str]]
    ) -> None:
        if "event" in query:  # the viewer's ping, which the API answers empty
            self.send(request, 204, b"", "application/json")
            return
        time.sleep(self.feed_delay_s)
        user_id = query.get("user_id", [""])[0]
        answers = self.feeds.get(user_id)
        if answers is None:
            answer: Answer = (404, {"error": f"no stories are kept for user {user_id}"})
        else:
            served = sum(
                f"user_id={user_id}" in p and "event=" not in p
                for p in self.requests
                if "stories.json" in p
            )
            answer = answers[min(served, len(answers)) - 1]
        status, body = (200, answer) if isinstance(answer, list) else answer
        self.send(
            request,
            status,
            json.dumps(body).encode(),
            "application/json",
            {
                "Access-Control-Allow-Origin": "*",
                "Cache-Control": self.feed_cache_control,
            },
        )

    def answer_media(
        self, request: BaseHTTPRequestHandler, name: str, query: str
    ) -> None:
        time.sleep(self.media_delay_s.get(name, 0.0))
        item = self.media.get(name)
        if f"sig={EXPIRED_SIGNATURE}" in query:
            self.send(request, 400, EXPIRED_BODY, "application/xml")
        elif item is None or name in self.missing:
            self.send(request, 404, b"No such object.", "text/plain")
        else:
            self.send_range(request, item)

    def send_range(self, request: BaseHTTPRequestHandler, item: Media) -> None:
        size = len(item.body)
        wanted = request.headers.get("Range", "")
        if not wanted.startswith("bytes="):
            self.send(request, 200, item.body, item.content_type)
            return
        first_text, _, last_text = wanted[len("bytes=") :].partition("-")
        first = int(first_text or 0)
        last = min(int(last_text or size - 1), size - 1)
        self.send(
            request,
            206,
            item.body[first : last + 1],
            item.content_type,
            {"Content-Range": f"bytes {first}-{last}/{size}"},
        )

    @staticmethod
    def send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(body)))
            request.send_header("Accept-Ranges", "bytes")
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser dropped a media download it no longer needs


def standard_media() -> dict[str, Media]:
    """The files every test can point stories at."""
    return {
        "red.jpg": photo(360, 640, "#c13584", "1"),
        "orange.jpg": photo(360, 640, "#f77737", "2"),
        "blue.jpg": photo(360, 640, "#405de6", "3"),
        "green.jpg": photo(360, 640, "#2e8b57", "4"),
        "wide.png": photo(640, 360, "#833ab4", "wide", "PNG"),
        "avatar.png": photo(96, 96, "#fcaf45", "A", "PNG"),
        "clip.mp4": video(),
        "long.mp4": video(duration_s=6.0),
    }
