"""A stand-in for the Telegram Bot API: `/bot<token>/<method>` over real HTTP.

Parameters arrive as Telegram takes them: in the query string, as an urlencoded or JSON
body, or as multipart form data with files. It enforces the real limits (photos 10 MB,
other files 50 MB, a photo's width + height at most 10000 and a side ratio at most 20,
checked on the real image with Pillow; captions 1024 and texts 4096 characters after
parsing; HTML parse mode as strict as Telegram's) and answers with the real error
bodies. Chats can be made unknown, migrated, or closed to the bot; failures (429, 5xx,
a stall after accepting a message) are scripted in order. Every accepted message is
recorded per chat with what was uploaded, which is what the family would see.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from PIL import Image, UnidentifiedImageError

DEFAULT_TOKEN = "123456789:AAFakeTokenForTheLocalBotApiServer0"
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_CAPTION_CHARS = 1024
MAX_TEXT_CHARS = 4096
_SEND_METHODS = {
    "sendmessage": "text",
    "sendphoto": "photo",
    "sendvideo": "video",
    "senddocument": "document",
}
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
}
_MARKUP = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^<>]*)>"
    r"|&(#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);"
    r"|[<&]"
)
_HREF = re.compile(r"""\s*href\s*=\s*(?:"([^"]*)"|'([^']*)')\s*$""")


class BotApiError(Exception):
    """An answer Telegram would give instead of a result."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def too_many_requests(retry_after_s: int) -> BotApiError:
    return BotApiError(
        429,
        f"Too Many Requests: retry after {retry_after_s}",
        {"retry_after": retry_after_s},
    )


def server_error() -> BotApiError:
    return BotApiError(502, "Bad Gateway")


@dataclass
class Stall:
    """Accept and record the message, then answer only after `seconds`."""

    seconds: float


@dataclass
class Chat:
    id: str
    type: str = "supergroup"
    title: str = "Family"
    # The error every send to this chat gets, if any (kicked, blocked, no rights).
    refusal: BotApiError | None = None
    migrated_to: str | None = None


@dataclass
class Upload:
    field: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    width: int | None = None
    height: int | None = None


@dataclass
class Message:
    """An accepted message, as the chat shows it."""

    message_id: int
    chat_id: str
    kind: str
    text: str
    entities: list[dict[str, Any]]
    params: dict[str, str]
    upload: Upload | None = None
    date: int = field(default_factory=lambda: int(time.time()))

    @property
    def silent(self) -> bool:
        return _flag(self.params.get("disable_notification"))

    def links(self) -> list[tuple[str, str]]:
        """(text, url) of every link, as a reader would see and follow it."""
        return [
            (_utf16_slice(self.text, e["offset"], e["length"]), e["url"])
            for e in self.entities
            if e["type"] == "text_link"
        ]


@dataclass
class Call:
    method: str
    chat_id: str | None
    status: int


class FakeTelegram:
    """A Bot API server for one bot; `messages[chat_id]` lists what was posted."""

    def __init__(
        self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.token = token
        self.chats: dict[str, Chat] = {}
        self.messages: dict[str, list[Message]] = {}
        self.calls: list[Call] = []
        self.script: list[BotApiError | Stall | None] = []
        self._lock = threading.Lock()
        self._next_message_id = 100
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTelegram:
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_chat(self, chat_id: str, type: str = "supergroup") -> Chat:
        chat = Chat(chat_id, type)
        with self._lock:
            self.chats[chat_id] = chat
            self.messages.setdefault(chat_id, [])
        return chat

    def migrate(self, chat_id: str, new_chat_id: str) -> None:
        """The group becomes a supergroup with a new id."""
        with self._lock:
            self.chats[chat_id].migrated_to = new_chat_id
        self.add_chat(new_chat_id, "supergroup")

    def refuse(self, chat_id: str, error: BotApiError) -> None:
        with self._lock:
            self.chats[chat_id].refusal = error

    def then(self, *steps: BotApiError | Stall | None) -> None:
        """Scripts what the next send requests get, in order, before normal service
        resumes; None serves one request normally."""
        with self._lock:
            self.script.extend(steps)

    def posted(self, chat_id: str) -> list[Message]:
        with self._lock:
            return list(self.messages.get(chat_id, []))

    # Request handling, called from the server threads.

    def handle(self, token: str, method: str, params: dict[str, Any]) -> Any:
        if token != self.token:
            raise BotApiError(401, "Unauthorized")
        lowered = method.lower()
        if lowered == "getme":
            return {"id": int(self.token.split(":")[0]), "is_bot": True}
        if lowered not in _SEND_METHODS:
            raise BotApiError(404, "Not Found")
        step = self._next_step()
        if isinstance(step, BotApiError):
            raise step
        message = self._accept(_SEND_METHODS[lowered], params)
        if step is not None:
            time.sleep(step.seconds)
        return _result(message, self.chats[message.chat_id])

    def _next_step(self) -> BotApiError | Stall | None:
        with self._lock:
            return self.script.pop(0) if self.script else None

    def _accept(self, kind: str, params: dict[str, Any]) -> Message:
        chat = self._chat(str(params.get("chat_id") or ""))
        upload = _upload(kind, params) if kind != "text" else None
        text, entities = _message_text(kind, params)
        plain = {k: v for k, v in params.items() if isinstance(v, str)}
        with self._lock:
            self._next_message_id += 1
            message = Message(
                self._next_message_id, chat.id, kind, text, entities, plain, upload
            )
            self.messages[chat.id].append(message)
        return message

    def _chat(self, chat_id: str) -> Chat:
        if not chat_id:
            raise BotApiError(400, "Bad Request: chat_id is empty")
        with self._lock:
            chat = self.chats.get(chat_id)
        if chat is None:
            raise BotApiError(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:
            raise BotApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": int(chat.migrated_to)},
            )
        if chat.refusal is not None:
            raise chat.refusal
        return chat

    def record(self, method: str, chat_id: str | None, status: int) -> None:
        with self._lock:
            self.calls.append(Call(method, chat_id, status))


@dataclass
class _File:
    file_name: str
    content_type: str
    body: bytes


def _upload(kind: str, params: dict[str, Any]) -> Upload:
    sent = params.get(kind)
    if not isinstance(sent, _File):
        raise BotApiError(400, f"Bad Request: there is no {kind} in the request")
    size = len(sent.body)
    if size > MAX_FILE_BYTES:
        raise BotApiError(413, "Request Entity Too Large")
    digest = hashlib.sha256(sent.body).hexdigest()
    upload = Upload(kind, sent.file_name, sent.content_type, size, digest)
    if kind == "photo":
        _check_photo(sent.body, upload)
    return upload


def _check_photo(body: bytes, upload: Upload) -> None:
    if len(body) > MAX_PHOTO_BYTES:
        raise BotApiError(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
    try:
        with Image.open(io.BytesIO(body)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError):
        raise BotApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
    if width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise BotApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    upload.width, upload.height = width, height


def _message_text(
    kind: str, params: dict[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    name = "text" if kind == "text" else "caption"
    raw = params.get(name) or ""
    if not isinstance(raw, str):
        raise BotApiError(400, f"Bad Request: {name} must be a string")
    if kind == "text" and not raw.strip():
        raise BotApiError(400, "Bad Request: message text is empty")
    if str(params.get("parse_mode") or "").lower() == "html":
        text, entities = parse_html(raw)
    else:
        text, entities = raw, []
    limit = MAX_TEXT_CHARS if kind == "text" else MAX_CAPTION_CHARS
    if _utf16_len(text) > limit:
        what = (
            "message is too long" if kind == "text" else "message caption is too long"
        )
        raise BotApiError(400, f"Bad Request: {what}")
    return text, entities


def parse_html(raw: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse mode: plain text and entities, or its 400 on bad markup."""
    text: list[str] = []
    open_tags: list[tuple[str, int, str | None]] = []
    entities: list[dict[str, Any]] = []
    position = 0
    for match in _MARKUP.finditer(raw):
        text.append(raw[position : match.start()])
        position = match.end()
        offset = _utf16_len("".join(text))
        closing, tag, attributes, entity = match.groups()
        if entity is not None:
            text.append(unescape(f"&{entity};"))
        elif tag is None:
            raise _parse_error(f"Unexpected character {match.group()!r}", raw, match)
        elif tag.lower() not in _TAGS:
            raise _parse_error(f'Unsupported start tag "{tag}"', raw, match)
        elif not closing:
            open_tags.append((tag.lower(), offset, _href(tag.lower(), attributes)))
        else:
            if not open_tags or open_tags[-1][0] != tag.lower():
                raise _parse_error(f'Unmatched end tag "{tag}"', raw, match)
            name, start, url = open_tags.pop()
            entity_fields: dict[str, Any] = {
                "type": _ENTITY_TYPES[name],
                "offset": start,
                "length": offset - start,
            }
            if url is not None:
                entity_fields["url"] = url
            entities.append(entity_fields)
    text.append(raw[position:])
    if open_tags:
        raise BotApiError(
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to "
            f'start tag "{open_tags[-1][0]}"',
        )
    return "".join(text), sorted(entities, key=lambda e: e["offset"])


def _href(tag: str, attributes: str) -> str | None:
    if tag != "a":
        return None
    found = _HREF.match(attributes)
    if not found:
        raise BotApiError(400, "Bad Request: can't parse entities: a tag needs href")
    return unescape(found.group(1) or found.group(2) or "")


def _parse_error(what: str, raw: str, match: re.Match[str]) -> BotApiError:
    byte_offset = len(raw[: match.start()].encode())
    return BotApiError(
        400, f"Bad Request: can't parse entities: {what} at byte offset {byte_offset}"
    )


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _utf16_slice(text: str, offset: int, length: int) -> str:
    units = text.encode("utf-16-le")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le")


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def _result(message: Message, chat: Chat) -> dict[str, Any]:
    result: dict[str, Any] = {
        "message_id": message.message_id,
        "date": message.date,
        "chat": {"id": int(chat.id), "type": chat.type, "title": chat.title},
    }
    field_name = "text" if message.kind == "text" else "caption"
    if message.text:
        result[field_name] = message.text
    if message.entities:
        result["entities" if message.kind == "text" else "caption_entities"] = (
            message.entities
        )
    upload = message.upload
    if upload is not None:
        described = {
            "file_id": f"fake-{message.message_id}",
            "file_unique_id": f"u{message.message_id}",
            "file_size": upload.size_bytes,
        }
        if message.kind == "photo":
            result["photo"] = [
                {**described, "width": upload.width, "height": upload.height}
            ]
        elif message.kind == "video":
            result["video"] = {
                **described,
                "width": int(message.params.get("width") or 0),
                "height": int(message.params.get("height") or 0),
                "duration": int(message.params.get("duration") or 0),
                "mime_type": upload.content_type,
            }
        else:
            result["document"] = {
                **described,
                "file_name": upload.file_name,
                "mime_type": upload.content_type,
            }
    return result


# HTTP.

_PATH = re.compile(r"^/bot([^/]+)/([A-Za-z]+)$")
_DISPOSITION_NAME = re.compile(r'\bname="([^"]*)"')
_DISPOSITION_FILE = re.compile(r'\bfilename="?([^";\r\n]*)"?')


def _handler(api: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            match = _PATH.match(parts.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_FILE_BYTES + 1024 * 1024:
                self.close_connection = True
                self._answer(BotApiError(413, "Request Entity Too Large").body(), 413)
                return
            body = self.rfile.read(length) if length else b""
            if match is None:
                self._answer(BotApiError(404, "Not Found").body(), 404)
                return
            try:
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                params.update(_body_params(self.headers, body))
                result = api.handle(match[1], match[2], params)
            except BotApiError as error:
                api.record(match[2], params.get("chat_id"), error.code)
                self._answer(error.body(), error.code)
                return
            api.record(match[2], params.get("chat_id"), 200)
            self._answer({"ok": True, "result": result}, 200)

        def _answer(self, body: dict[str, Any], status: int) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up waiting (the stall knob); nothing to tell it.
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _body_params(headers: Any, body: bytes) -> dict[str, Any]:
    content_type = headers.get("Content-Type") or ""
    if content_type.startswith("multipart/form-data"):
        return _multipart(content_type, body)
    if content_type.startswith("application/json") and body:
        decoded = json.loads(body)
        return {key: _json_value(value) for key, value in decoded.items()}
    if body:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    return {}


def _json_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value).lower() if isinstance(value, bool) else json.dumps(value)


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    boundary = content_type.split("boundary=", 1)[-1].strip().strip('"').encode()
    params: dict[str, Any] = {}
    for part in body.split(b"--" + boundary):
        if part in (b"", b"--", b"--\r\n") or part.startswith(b"--"):
            continue
        # Each part is CRLF, headers, a blank line, the content, CRLF; the content
        # itself may end in CR or LF bytes, so only those two framing bytes go.
        part = part.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, _, content = part.partition(b"\r\n\r\n")
        header_text = head.decode("utf-8", "replace")
        name = _DISPOSITION_NAME.search(header_text)
        if name is None:
            continue
        file_name = _DISPOSITION_FILE.search(header_text)
        if file_name is None:
            params[name[1]] = content.decode()
            continue
        part_type = re.search(r"(?im)^content-type:\s*(\S+)", header_text)
        params[name[1]] = _File(
            file_name[1],
            part_type[1] if part_type else "application/octet-stream",
            content,
        )
    return params


def main() -> None:
    """Serves one chat until interrupted: `python -m stack.fakes.telegram [CHAT_ID]`."""
    chat_id = sys.argv[1] if len(sys.argv) > 1 else "-1001234567890"
    server = FakeTelegram().start()
    server.add_chat(chat_id)
    print(f"TELEGRAM_API_URL={server.url}")
    print(f"TELEGRAM_BOT_TOKEN={server.token}")
    print(f"TELEGRAM_CHAT_ID={chat_id}", flush=True)
    shown = 0
    try:
        while True:
            time.sleep(0.5)
            for message in server.posted(chat_id)[shown:]:
                print(f"[{message.kind}] {message.text}", flush=True)
                shown += 1
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
