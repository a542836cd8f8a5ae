"""A local Instagram: the private API's `feed/reels_media` and the Graph API's
`/{ig-user-id}/stories` and `refresh_access_token`, over real HTTP on 127.0.0.1.

It checks the `sessionid` cookie and the access token as Instagram does, answers in the
recorded wire shapes, counts every request, and fails on demand with Instagram's own
answers: `fake.fail("rate_limited", "server_error")` scripts the next requests.

    with FakeInstagram(media_base_url=cdn.url) as fake:
        fake.add_reels(json.loads(Path("reels_media.json").read_text()))
        # INSTAGRAM_API_URL=fake.url, INSTAGRAM_GRAPH_URL=fake.graph_url

Run alone (for `make run` or by hand), serving recorded answers:
`python -m stack.fakes.instagram --port 8081 tests/data/instagram/reels_media_*.json`
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
API_PREFIX = "/api/v1"
GRAPH_PREFIX = "/v21.0"
DEFAULT_SESSIONID = "8123456789%3AFakeSessionToken%3A17%3AAYdZ"
DEFAULT_ACCESS_TOKEN = "IGAAFakeLongLivedAccessToken0123456789"
TOKEN_LIFETIME_S = 60 * 24 * 60 * 60
MEDIA_KEYS = ("url", "media_url", "thumbnail_url")
# How soon stop() returns: the serving loop checks for shutdown this often.
POLL_INTERVAL_S = 0.02

# The scriptable failures, by name.
RATE_LIMITED = "rate_limited"
PLEASE_WAIT = "please_wait"
LOGIN_REQUIRED = "login_required"
CHALLENGE = "challenge"
CHECKPOINT = "checkpoint"
SERVER_ERROR = "server_error"
HANG = "hang"
INVALID_JSON = "invalid_json"
FAILURES = (
    RATE_LIMITED,
    PLEASE_WAIT,
    LOGIN_REQUIRED,
    CHALLENGE,
    CHECKPOINT,
    SERVER_ERROR,
    HANG,
    INVALID_JSON,
)

_LOGIN_REQUIRED_BODY = {
    "message": "login_required",
    "error_title": "You've been logged out",
    "error_body": "Please log back in.",
    "logout_reason": 2,
    "status": "fail",
}
_PRIVATE_FAILURES: dict[str, tuple[int, dict[str, str], str]] = {
    RATE_LIMITED: (
        429,
        {"Content-Type": "application/json", "Retry-After": "600"},
        json.dumps({"message": "Too many requests", "status": "fail"}),
    ),
    # Instagram says "please wait" with a 401 and require_login set; it still means
    # slow down, not log in again.
    PLEASE_WAIT: (
        401,
        {"Content-Type": "application/json"},
        json.dumps(
            {
                "message": "Please wait a few minutes before you try again.",
                "require_login": True,
                "status": "fail",
            }
        ),
    ),
    LOGIN_REQUIRED: (
        403,
        {"Content-Type": "application/json"},
        json.dumps(_LOGIN_REQUIRED_BODY),
    ),
    CHALLENGE: (
        302,
        {
            "Location": "https://www.instagram.com/challenge/?next=/api/v1/feed/reels_media/",
            "Content-Type": "text/html",
        },
        "",
    ),
    CHECKPOINT: (
        400,
        {"Content-Type": "application/json"},
        json.dumps(
            {
                "message": "checkpoint_required",
                "checkpoint_url": "https://www.instagram.com/challenge/action/",
                "lock": True,
                "status": "fail",
            }
        ),
    ),
    SERVER_ERROR: (
        500,
        {"Content-Type": "text/html"},
        "<html><body><h1>Oops, an error occurred.</h1></body></html>",
    ),
    INVALID_JSON: (
        200,
        {"Content-Type": "text/html; charset=utf-8"},
        '<!DOCTYPE html><html lang="en"><head><title>Instagram</title></head></html>',
    ),
}


def _graph_error(code: int, message: str, **extra: Any) -> str:
    error = {"message": message, "type": "OAuthException", "code": code}
    error.update(extra, fbtrace_id="AbCdEfGhIjK")
    return json.dumps({"error": error})


_GRAPH_FAILURES: dict[str, tuple[int, dict[str, str], str]] = {
    RATE_LIMITED: (
        400,
        {"Content-Type": "application/json"},
        _graph_error(4, "Application request limit reached", is_transient=True),
    ),
    LOGIN_REQUIRED: (
        400,
        {"Content-Type": "application/json"},
        _graph_error(190, "Error validating access token", error_subcode=463),
    ),
    SERVER_ERROR: (
        500,
        {"Content-Type": "application/json"},
        _graph_error(2, "An unexpected error has occurred.", is_transient=True),
    ),
    INVALID_JSON: _PRIVATE_FAILURES[INVALID_JSON],
}


@dataclass(frozen=True)
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeInstagram:
    """Both Instagram APIs on one free port; see the module docstring."""

    sessionid: str = DEFAULT_SESSIONID
    access_token: str = DEFAULT_ACCESS_TOKEN
    media_base_url: str | None = None
    hang_s: float = 5.0
    reels: dict[str, dict[str, Any]] = field(default_factory=dict)
    graph_stories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refresh_fails: bool = False
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._failures: list[str] = []
        self._tokens = {self.access_token}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The private API base, for INSTAGRAM_API_URL."""
        return f"{self.origin}{API_PREFIX}"

    @property
    def graph_url(self) -> str:
        """The Graph API base, for INSTAGRAM_GRAPH_URL."""
        return f"{self.origin}{GRAPH_PREFIX}"

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeInstagram is not started: call start() first")
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self, port: int = 0) -> FakeInstagram:
        self._stopping.clear()
        self._server = ThreadingHTTPServer((HOST, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name="fake-instagram",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeInstagram:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # Arranging what Instagram shows.

    def add_reels(self, answer: dict[str, Any]) -> None:
        """Adds every reel of a recorded `feed/reels_media` answer."""
        for user_id, reel in answer["reels"].items():
            self.reels[str(user_id)] = reel

    def add_graph_stories(self, user_id: str, answer: dict[str, Any]) -> None:
        """Serves a recorded `/{ig-user-id}/stories` answer's `data` for `user_id`."""
        self.graph_stories[user_id] = list(answer["data"])

    def fail(self, *failures: str) -> None:
        """The next requests, one each, fail this way (names in `FAILURES`)."""
        unknown = set(failures) - set(FAILURES)
        if unknown:
            raise ValueError(f"unknown failures {sorted(unknown)}, expected {FAILURES}")
        with self._lock:
            self._failures.extend(failures)

    @property
    def tokens(self) -> set[str]:
        """Access tokens accepted now: the configured one and every refreshed one."""
        return set(self._tokens)

    def count(self, path_part: str = "") -> int:
        return sum(path_part in r.path for r in self.requests)

    # Serving.

    def _next_failure(self) -> str | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def _media(self, value: Any) -> Any:
        """`value` with every media URL moved onto `media_base_url`."""
        if isinstance(value, dict):
            return {
                key: self._rebase(item)
                if key in MEDIA_KEYS and isinstance(item, str)
                else self._media(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._media(item) for item in value]
        return value

    def _rebase(self, url: str) -> str:
        if self.media_base_url is None:
            return url
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.media_base_url.rstrip('/')}{parts.path}{query}"

    def answer(self, request: Recorded) -> tuple[int, dict[str, str], str]:
        """The status, headers and body Instagram would send for `request`."""
        graph = not request.path.startswith(API_PREFIX)
        failure = self._next_failure()
        if failure == HANG:
            self._stopping.wait(self.hang_s)
        elif failure is not None:
            table = _GRAPH_FAILURES if graph else _PRIVATE_FAILURES
            return table.get(failure, _PRIVATE_FAILURES[failure])
        if graph:
            return self._graph(request)
        return self._private(request)

    def _private(self, request: Recorded) -> tuple[int, dict[str, str], str]:
        if f"sessionid={self.sessionid}" not in request.headers.get("Cookie", ""):
            return _PRIVATE_FAILURES[LOGIN_REQUIRED]
        if request.path.rstrip("/") != f"{API_PREFIX}/feed/reels_media":
            return _json(404, {"message": "Page not found", "status": "fail"})
        ids = request.query.get("reel_ids", [])
        reels = {i: self._media(self.reels[i]) for i in ids if i in self.reels}
        return _json(200, {"reels": reels, "reels_media": [], "status": "ok"})

    def _graph(self, request: Recorded) -> tuple[int, dict[str, str], str]:
        token = request.query.get("access_token", [""])[0]
        if token not in self._tokens:
            return _GRAPH_FAILURES[LOGIN_REQUIRED]
        if request.path == "/refresh_access_token":
            return self._refresh(request, token)
        parts = request.path.removeprefix(GRAPH_PREFIX).strip("/").split("/")
        if len(parts) != 2 or parts[1] != "stories" or not parts[0].isdigit():
            return (
                400,
                {"Content-Type": "application/json"},
                _graph_error(100, "Unsupported get request."),
            )
        data = self._media(self.graph_stories.get(parts[0], []))
        return _json(200, {"data": data})

    def _refresh(
        self, request: Recorded, token: str
    ) -> tuple[int, dict[str, str], str]:
        if request.query.get("grant_type") != ["ig_refresh_token"]:
            return (
                400,
                {"Content-Type": "application/json"},
                _graph_error(100, "Invalid grant_type"),
            )
        if self.refresh_fails:
            return (
                400,
                {"Content-Type": "application/json"},
                _graph_error(
                    10, "Application does not have permission for this action"
                ),
            )
        with self._lock:
            refreshed = f"{self.access_token}R{len(self._tokens)}"
            self._tokens.add(refreshed)
        return _json(
            200,
            {
                "access_token": refreshed,
                "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME_S,
            },
        )


def _json(status: int, body: Any) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body)


def _handler_for(fake: FakeInstagram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes; without this, delayed ACKs
        # would add some 40 ms to every answer and blur any timing measured here.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            request = Recorded(
                method="GET",
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k: v for k, v in self.headers.items()},
            )
            fake._record(request)
            status, headers, body = fake.answer(request)
            data = body.encode()
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, as after a hang

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--media-base-url", default=None)
    parser.add_argument("answers", nargs="*", type=Path, help="recorded reels_media")
    args = parser.parse_args()
    fake = FakeInstagram(media_base_url=args.media_base_url).start(args.port)
    for path in args.answers:
        fake.add_reels(json.loads(path.read_text()))
    print(f"INSTAGRAM_API_URL={fake.url}", flush=True)
    print(f"INSTAGRAM_GRAPH_URL={fake.graph_url}", flush=True)
    print(f"INSTAGRAM_SESSIONID={fake.sessionid}", flush=True)
    print(f"INSTAGRAM_ACCESS_TOKEN={fake.access_token}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
