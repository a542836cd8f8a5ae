"""A stand-in for Instagram's media CDN: serves registered files over real HTTP.

Each file lives at a path with a content type. Failures are scripted per path: a status
to answer instead (403 for an expired link, 500 for a passing fault) a number of times,
a body cut short, a delay before the first byte, or a stall part-way through the body.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK_BYTES = 64 * 1024


@dataclass
class Media:
    content_type: str
    body: bytes | None = None
    # A generated body of this size, for files too large to keep in memory.
    size_bytes: int = 0
    failures: list[int] = field(default_factory=list)
    truncate_at: int | None = None
    delay_s: float = 0.0
    # The first bytes of a generated body, such as a real file header.
    head: bytes = b""
    # After sending this many bytes, pause `stall_s`; only the first `stalls`
    # responses stall (None: every one).
    stall_at: int | None = None
    stall_s: float = 0.0
    stalls: int | None = None
    # Send the body in chunked transfer encoding, without a Content-Length.
    chunked: bool = False

    @property
    def length(self) -> int:
        return len(self.body) if self.body is not None else self.size_bytes

    def chunks(self) -> Iterator[bytes]:
        if self.body is not None:
            for start in range(0, len(self.body), CHUNK_BYTES):
                yield self.body[start : start + CHUNK_BYTES]
            return
        if self.head:
            yield self.head[: self.size_bytes]
        block = (b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 256)[:CHUNK_BYTES]
        if self.head:
            block = bytes(CHUNK_BYTES)
        remaining = self.size_bytes - len(self.head)
        while remaining > 0:
            yield block[: min(remaining, CHUNK_BYTES)]
            remaining -= CHUNK_BYTES


class FakeCdn:
    """Serves `Media` by path; `requests` counts the GETs each path received."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.media: dict[str, Media] = {}
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, media: Media) -> str:
        """Serves `media` at `path`; returns its full URL."""
        with self._lock:
            self.media[path] = media
        return self.url + path

    def start(self) -> FakeCdn:
        # A short poll makes stop() quick; tests start and stop a server each.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _take(self, path: str) -> tuple[Media | None, int | None, int | None]:
        """The media at `path`, the status to fail with, and where to stall."""
        with self._lock:
            self.requests[path] = self.requests.get(path, 0) + 1
            media = self.media.get(path)
            if media is None:
                return None, 404, None
            failure = media.failures.pop(0) if media.failures else None
            stall_at = media.stall_at
            if failure is None and stall_at is not None and media.stalls is not None:
                stall_at = stall_at if media.stalls > 0 else None
                media.stalls -= 1
            return media, failure, stall_at


def _handler(cdn: FakeCdn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            media, failure, stall_at = cdn._take(self.path.split("?", 1)[0])
            if media is not None and media.delay_s:
                time.sleep(media.delay_s)
            if media is None or failure is not None:
                self._error(failure or 404)
                return
            self.send_response(200)
            self.send_header("Content-Type", media.content_type)
            if media.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(media.length))
            self.end_headers()
            try:
                self._send_body(media, stall_at)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout under test): nothing left to serve.
                self.close_connection = True

        def _send_body(self, media: Media, stall_at: int | None) -> None:
            sent = 0
            for chunk in media.chunks():
                if stall_at is not None and sent <= stall_at < sent + len(chunk):
                    self._write(media, chunk[: stall_at - sent])
                    self.wfile.flush()
                    time.sleep(media.stall_s)
                    chunk = chunk[stall_at - sent :]
                    sent = stall_at
                if (
                    media.truncate_at is not None
                    and sent + len(chunk) > media.truncate_at
                ):
                    self._write(media, chunk[: media.truncate_at - sent])
                    self.close_connection = True
                    return
                self._write(media, chunk)
                sent += len(chunk)
            if media.chunked:
                self.wfile.write(b"0\r\n\r\n")

        def _write(self, media: Media, data: bytes) -> None:
            if not media.chunked:
                self.wfile.write(data)
            elif data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        def _error(self, status: int) -> None:
            body = b"<html><body>URL signature expired</body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
