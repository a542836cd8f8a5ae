"""Serves `viewer/` locally, with the demo page pointed at the local stories.json."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from stack.emulators import HOST

VIEWER_DIR = Path(__file__).resolve().parent.parent / "viewer"
_FILES = {
    "/": "index.html",
    "/index.html": "index.html",
    "/instapipe.js": "instapipe.js",
}
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
_SRC = re.compile(r'(<instapipe-stories\b[^>]*?\bsrc=")[^"]*(")')


def demo_page(stories_json_url: str) -> bytes:
    """The demo page with its one stories.json URL replaced by `stories_json_url`."""
    page = (VIEWER_DIR / "index.html").read_text()
    return _SRC.sub(lambda m: m[1] + stories_json_url + m[2], page, count=1).encode()


class ViewerServer:
    def __init__(self, stories_json_url: str, port: int = 0) -> None:
        self.stories_json_url = stories_json_url
        self._server = ThreadingHTTPServer((HOST, port), _handler(self))
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def body(self, path: str) -> tuple[bytes, str] | None:
        name = _FILES.get(path.split("?", 1)[0])
        if name is None:
            return None
        file = VIEWER_DIR / name
        content = demo_page(self.stories_json_url) if name == "index.html" else None
        return content or file.read_bytes(), _TYPES[file.suffix]


def _handler(viewer: ViewerServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = viewer.body(self.path)
            if found is None:
                self.send_error(404)
                return
            body, content_type = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
