"""stories_json: the public HTTP API over the story archive.

`GET ?user_id=<id>` answers the account's stories of the last day as a JSON array,
oldest first; `before`, `limit` and `cursor` page back through the whole archive, the
next page's address travelling in a `Link` header. Every embed calls this on every page
view, so answers are cached three ways: in this instance's memory for API_CACHE_S (one
Firestore query per burst), by browsers and CDNs for about a minute (`Cache-Control`,
never past the earliest signed URL in the answer), and revalidated by `ETag`.

`GET ?user_id=<id>&event=open|prefetch` is the viewer's ping, counted per day only when
API_COUNT_OPENS is on. Any origin may call (CORS); methods other than GET, HEAD and
OPTIONS get 405. Every error is JSON `{"error": "..."}`. docs/openapi.json describes it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Request, Response

from instapipe import api_params, feed, logs, opens
from instapipe.answer_cache import AnswerCache
from instapipe.api_params import ApiError, Query
from instapipe.config import Settings, settings
from instapipe.feed import FeedUnavailable, Page

log = logs.get(__name__)

ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")
# Browsers and CDNs may keep an answer this long; new stories show up within it.
MAX_AGE_S = 60
PREFLIGHT_MAX_AGE_S = 24 * 60 * 60
RETRY_AFTER_S = 5
CACHE_MAX_ENTRIES = 512
JSON_TYPE = "application/json; charset=utf-8"
EXPOSED_HEADERS = "ETag, Link"
_HEADER_LIST = re.compile(r"[A-Za-z0-9\-, ]{1,500}")

_cache: tuple[Settings, AnswerCache[Answer]] | None = None


@dataclass(frozen=True)
class Answer:
    """A rendered 200 answer, as kept in the memory cache."""

    body: bytes
    etag: str
    url_expires_at: int | None
    link: str | None


def handle_request(request: Request) -> Response:
    try:
        return _handle(request)
    except ApiError as error:
        log.info("request refused", status=error.status, error=error.message)
        return _error(error.status, error.message)
    except FeedUnavailable as error:
        return _error(503, f"{error}; try again in a few seconds")
    except Exception:
        log.exception("request failed")
        return _error(500, "internal error; it is logged, try again later")


def _handle(request: Request) -> Response:
    if request.method == "OPTIONS":
        return _preflight(request)
    if request.method not in ALLOWED_METHODS:
        raise ApiError(
            405,
            f"method {request.method} is not allowed: use "
            + ", ".join(ALLOWED_METHODS),
        )
    config = settings()
    query = api_params.parse(request.args, config.instagram_user_ids)
    if query.event is not None:
        return _ping(query, config)
    answer = _answers(config).get(query, lambda: _load(query, config))
    return _respond(request, answer)


def _answers(config: Settings) -> AnswerCache[Answer]:
    """The memory cache of this instance: settings read anew mean an instance anew."""
    global _cache
    if _cache is None or _cache[0] is not config:
        _cache = (config, AnswerCache(CACHE_MAX_ENTRIES))
    return _cache[1]


def _load(query: Query, config: Settings) -> tuple[Answer, float]:
    started = time.monotonic()
    now = int(time.time())
    page = _read(query, now)
    answer = _render(query, page)
    log.info(
        "stories read",
        user_id=query.user_id,
        count=len(page.stories),
        paged=query.paged,
        query_ms=round((time.monotonic() - started) * 1000, 1),
    )
    keep_s = config.api_cache_s
    if answer.url_expires_at is not None:
        keep_s = min(keep_s, answer.url_expires_at - feed.resign_below_s() - now)
    return answer, keep_s


def _read(query: Query, now: int) -> Page:
    if not query.paged:
        return feed.last_day(query.user_id, now)
    return feed.history(query.user_id, query.limit, query.before, query.after, now)


def _render(query: Query, page: Page) -> Answer:
    body = json.dumps(page.stories, separators=(",", ":"), ensure_ascii=False)
    link = None
    if page.next_position is not None:
        cursor = api_params.encode_cursor(page.next_position)
        params = {"user_id": query.user_id, "limit": query.limit, "cursor": cursor}
        link = f'<?{urlencode(params)}>; rel="next"'
    digest = hashlib.sha256(body.encode())
    digest.update((link or "").encode())
    return Answer(
        body=body.encode(),
        etag=f'"{digest.hexdigest()[:40]}"',
        url_expires_at=page.earliest_url_expiry,
        link=link,
    )


def _respond(request: Request, answer: Answer) -> Response:
    headers = _cors()
    headers["ETag"] = answer.etag
    headers["Cache-Control"] = f"public, max-age={_max_age_s(answer, time.time())}"
    if answer.link is not None:
        headers["Link"] = answer.link
    if request.if_none_match.contains_weak(answer.etag.strip('"')):
        return Response(status=304, headers=headers)
    return Response(answer.body, status=200, headers=headers, content_type=JSON_TYPE)


def _max_age_s(answer: Answer, now: float) -> int:
    if answer.url_expires_at is None:
        return MAX_AGE_S
    return max(0, min(MAX_AGE_S, int(answer.url_expires_at - now)))


def _ping(query: Query, config: Settings) -> Response:
    if config.api_count_opens and query.event is not None:
        opens.count(query.user_id, query.event, time.time())
    headers = _cors()
    headers["Cache-Control"] = "no-store"
    return Response(status=204, headers=headers)


def _preflight(request: Request) -> Response:
    headers = _cors()
    headers["Access-Control-Allow-Methods"] = ", ".join(ALLOWED_METHODS)
    headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
    headers["Allow"] = ", ".join(ALLOWED_METHODS)
    asked = request.headers.get("Access-Control-Request-Headers", "")
    if _HEADER_LIST.fullmatch(asked):
        headers["Access-Control-Allow-Headers"] = asked
    return Response(status=204, headers=headers)


def _cors() -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": EXPOSED_HEADERS,
        "X-Content-Type-Options": "nosniff",
    }


def _error(status: int, message: str) -> Response:
    headers = _cors()
    headers["Cache-Control"] = "no-store"
    if status == 405:
        headers["Allow"] = ", ".join(ALLOWED_METHODS)
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    body = json.dumps({"error": message}, ensure_ascii=False)
    return Response(body, status=status, headers=headers, content_type=JSON_TYPE)
