"""stories_json through Flask's test client against the emulators: the last-day window,
paging, signed URLs, caching headers, CORS, the memory cache, open counting and every
error path."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from instapipe import api_params, feed, store
from instapipe.feed import Position
from instapipe.story import Location
from stack.emulators import Emulators
from tests.api_support import USER_ID, archive, client, fetch
from tests.conftest import reset_process_state

HOUR_S = 3600
DAY_S = 86400


@pytest.fixture
def web(cloud: Emulators) -> FlaskClient:
    return client()


def get(web: FlaskClient, query: str, **headers: str) -> Any:
    return web.get(f"/?{query}", headers=headers)


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [story["id"] for story in response.get_json()]


def next_query(response: Any) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<\?([^>]*)>; rel="next"', link)
    assert match, link
    return match[1]


def test_the_last_day_edges_are_23h59m_in_and_24h01m_out(web: FlaskClient) -> None:
    now = int(time.time())
    archive("3300000000000000001", now - DAY_S - 60)
    archive("3300000000000000002", now - DAY_S + 60)
    archive("3300000000000000003", now - HOUR_S)

    response = get(web, f"user_id={USER_ID}")

    assert ids(response) == ["3300000000000000002", "3300000000000000003"]


def test_stories_come_oldest_first_with_the_contract_fields(web: FlaskClient) -> None:
    now = int(time.time())
    archive("3300000000000000005", now - 600, is_video=True)
    archive(
        "3300000000000000004",
        now - 1200,
        location=Location(name="Tempelhofer Feld", lat=52.47, lng=13.4),
    )

    stories = get(web, f"user_id={USER_ID}").get_json()

    assert [s["id"] for s in stories] == ["3300000000000000004", "3300000000000000005"]
    photo, video = stories
    assert photo["location"] == {"name": "Tempelhofer Feld", "lat": 52.47, "lng": 13.4}
    assert (photo["is_video"], video["is_video"]) == (False, True)
    assert (video["duration_s"], photo["duration_s"]) == (5.0, None)
    assert video["bucket_path"].startswith("gs://instapipe-test-media/")
    assert photo["user_id"] == USER_ID and photo["timestamp"] == now - 1200
    assert {"media_url", "source", "object_name", "archived_at"}.isdisjoint(photo)


def test_the_signed_url_serves_the_archived_media(web: FlaskClient) -> None:
    archive("3300000000000000006", int(time.time()) - 60)

    story = get(web, f"user_id={USER_ID}").get_json()[0]

    assert fetch(story["signed_url"]) == b"media of story 3300000000000000006"


def test_a_fresh_signed_url_is_served_as_stored(web: FlaskClient) -> None:
    stored = archive("3300000000000000007", int(time.time()) - 60)

    story = get(web, f"user_id={USER_ID}").get_json()[0]

    assert story["signed_url"] == stored.signed_url
    assert story["signed_url_expires_at"] == stored.signed_url_expires_at


def test_a_nearly_expired_url_is_signed_anew_and_saved(web: FlaskClient) -> None:
    stored = archive("3300000000000000008", int(time.time()) - 60, url_ttl_s=HOUR_S)

    story = get(web, f"user_id={USER_ID}").get_json()[0]

    assert story["signed_url"] != stored.signed_url
    assert story["signed_url_expires_at"] >= time.time() + DAY_S - 60
    assert fetch(story["signed_url"]) == b"media of story 3300000000000000008"
    document = store.story_ref(USER_ID, "3300000000000000008").get().to_dict()
    assert document["signed_url"] == story["signed_url"]
    assert document["signed_url_expires_at"] == story["signed_url_expires_at"]


def test_history_pages_backwards_through_the_archive(web: FlaskClient) -> None:
    start = int(time.time()) - 30 * DAY_S
    for n in range(5):
        archive(f"33000000000000001{n}", start + n * DAY_S)

    first = get(web, f"user_id={USER_ID}&limit=2")
    second = get(web, next_query(first) or "")
    third = get(web, next_query(second) or "")

    assert ids(first) == ["330000000000000013", "330000000000000014"]
    assert ids(second) == ["330000000000000011", "330000000000000012"]
    assert ids(third) == ["330000000000000010"]
    assert next_query(third) is None


def test_paging_splits_stories_of_the_same_second_without_loss(
    web: FlaskClient,
) -> None:
    posted = int(time.time()) - 3 * DAY_S
    for n in range(5):
        archive(f"33000000000000002{n}", posted)

    seen: list[str] = []
    query: str | None = f"user_id={USER_ID}&limit=2&before={posted + 1}"
    while query is not None:
        response = get(web, query)
        seen = ids(response) + seen
        query = next_query(response)

    assert seen == [f"33000000000000002{n}" for n in range(5)]


def test_before_starts_the_history_at_a_time(web: FlaskClient) -> None:
    start = int(time.time()) - 10 * DAY_S
    for n in range(4):
        archive(f"33000000000000003{n}", start + n * HOUR_S)

    response = get(web, f"user_id={USER_ID}&before={start + 2 * HOUR_S}")

    assert ids(response) == ["330000000000000030", "330000000000000031"]
    assert next_query(response) is None


def test_the_cursor_round_trips() -> None:
    position = Position(1764720000, "3300000000000000001")

    cursor = api_params.encode_cursor(position)

    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert api_params._decode_cursor(cursor) == position


BAD_QUERIES = [
    ("", 400, "user_id is missing"),
    ("user_id=", 400, "user_id is missing"),
    ("user_id=abc", 400, "'abc' is not a numeric"),
    ("user_id=%D9%A3", 400, "is not a numeric"),
    ("user_id=999", 404, "999 is not an account served here"),
    (f"user_id={USER_ID}&callback=x", 400, "unexpected parameter 'callback'"),
    (f"user_id={USER_ID}&user_id={USER_ID}", 400, "user_id is given more than once"),
    (f"user_id={USER_ID}&before=yesterday", 400, "before 'yesterday' is not valid"),
    (f"user_id={USER_ID}&before=0", 400, "before '0' is not valid"),
    (f"user_id={USER_ID}&before=-5", 400, "before '-5' is not valid"),
    (f"user_id={USER_ID}&limit=0", 400, "limit '0' is not valid"),
    (f"user_id={USER_ID}&limit=101", 400, "limit '101' is not valid"),
    (f"user_id={USER_ID}&limit=1.5", 400, "limit '1.5' is not valid"),
    (f"user_id={USER_ID}&cursor=!!", 400, "cursor '!!' is not valid"),
    (f"user_id={USER_ID}&cursor=bm90LWEtY3Vyc29y", 400, "is not valid"),
    (f"user_id={USER_ID}&cursor=NTpfX3hfXw", 400, "is not valid"),
    (f"user_id={USER_ID}&cursor=MTox&before=5", 400, "before and cursor"),
    (f"user_id={USER_ID}&event=click", 400, "event 'click' is not one of"),
    (f"user_id={USER_ID}&event=open&limit=5", 400, "event cannot be combined"),
]


@pytest.mark.parametrize(("query", "status", "message"), BAD_QUERIES)
def test_a_bad_query_says_what_is_wrong(query: str, status: int, message: str) -> None:
    web = client()

    response = get(web, query)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "no-store"
    assert message in response.get_json()["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_get_405(method: str) -> None:
    web = client()

    response = web.open(f"/?user_id={USER_ID}", method=method)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert f"method {method} is not allowed" in response.get_json()["error"]


def test_a_cors_preflight_allows_any_origin() -> None:
    web = client()

    response = web.options(
        f"/?user_id={USER_ID}",
        headers={
            "Origin": "https://blog.example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )

    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "if-none-match"
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_an_answer_carries_cors_and_cache_headers(web: FlaskClient) -> None:
    archive("3300000000000000040", int(time.time()) - 60)

    response = get(web, f"user_id={USER_ID}", Origin="https://blog.example.org")

    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert re.fullmatch(r'"[0-9a-f]{40}"', response.headers["ETag"])
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]


def test_if_none_match_answers_304_without_a_body(web: FlaskClient) -> None:
    archive("3300000000000000041", int(time.time()) - 60)
    etag = get(web, f"user_id={USER_ID}").headers["ETag"]

    unchanged = get(web, f"user_id={USER_ID}", **{"If-None-Match": etag})
    other = get(web, f"user_id={USER_ID}", **{"If-None-Match": '"0000"'})

    assert unchanged.status_code == 304
    assert unchanged.get_data() == b""
    assert unchanged.headers["ETag"] == etag
    assert other.status_code == 200
    assert other.headers["ETag"] == etag


def test_the_etag_changes_with_the_body(
    web: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_CACHE_S", "0.01")
    reset_process_state()
    archive("3300000000000000042", int(time.time()) - 60)
    before = get(web, f"user_id={USER_ID}").headers["ETag"]
    archive("3300000000000000043", int(time.time()) - 30)
    time.sleep(0.02)

    after = get(web, f"user_id={USER_ID}", **{"If-None-Match": before})

    assert after.status_code == 200
    assert after.headers["ETag"] != before


def test_head_answers_the_headers_without_the_body(web: FlaskClient) -> None:
    archive("3300000000000000044", int(time.time()) - 60)
    full = get(web, f"user_id={USER_ID}")

    response = web.head(f"/?user_id={USER_ID}")

    assert response.status_code == 200
    assert response.get_data() == b""
    assert response.headers["ETag"] == full.headers["ETag"]
    assert response.headers["Content-Length"] == str(len(full.get_data()))


def test_cache_control_ends_with_the_earliest_signed_url(
    web: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNED_URL_TTL_S", "40")
    reset_process_state()
    archive("3300000000000000045", int(time.time()) - 60, url_ttl_s=40)
    archive("3300000000000000046", int(time.time()) - 30)

    response = get(web, f"user_id={USER_ID}")

    max_age_s = int(response.headers["Cache-Control"].split("max-age=")[1])
    assert 30 <= max_age_s <= 40


def test_an_unreadable_story_document_is_left_out(web: FlaskClient) -> None:
    archive("3300000000000000047", int(time.time()) - 60)
    store.story_ref(USER_ID, "broken").set({"timestamp": int(time.time()) - 30})

    response = get(web, f"user_id={USER_ID}")

    assert ids(response) == ["3300000000000000047"]


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the Firestore queries the API runs, through feed's one query seam."""
    counted: list[str] = []
    run_query = feed._run_query

    def counting(query: Any) -> Any:
        counted.append(threading.current_thread().name)
        return run_query(query)

    monkeypatch.setattr(feed, "_run_query", counting)
    return counted


def test_a_burst_of_requests_costs_one_query(
    web: FlaskClient, queries: list[str]
) -> None:
    archive("3300000000000000050", int(time.time()) - 60)
    bodies: list[bytes] = []

    def view() -> None:
        bodies.append(get(client(), f"user_id={USER_ID}").get_data())

    threads = [threading.Thread(target=view) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(queries) == 1
    assert len(bodies) == 16 and len(set(bodies)) == 1


def test_the_memory_cache_expires_after_api_cache_s(
    web: FlaskClient, queries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_CACHE_S", "0.3")
    reset_process_state()
    archive("3300000000000000051", int(time.time()) - 60)
    get(web, f"user_id={USER_ID}")
    archive("3300000000000000052", int(time.time()) - 30)

    cached = get(web, f"user_id={USER_ID}")
    time.sleep(0.35)
    renewed = get(web, f"user_id={USER_ID}")

    assert ids(cached) == ["3300000000000000051"]
    assert ids(renewed) == ["3300000000000000051", "3300000000000000052"]
    assert len(queries) == 2


def test_open_pings_are_answered_but_not_counted_by_default(web: FlaskClient) -> None:
    response = get(web, f"user_id={USER_ID}&event=open")

    assert response.status_code == 204
    assert response.headers["Cache-Control"] == "no-store"
    assert list(store.account_ref(USER_ID).collection(store.OPENS).stream()) == []


def test_open_pings_are_counted_per_day_when_on(
    web: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_COUNT_OPENS", "true")
    reset_process_state()
    day = time.strftime("%Y-%m-%d", time.gmtime())

    for event in ("open", "open", "prefetch", "open"):
        assert get(web, f"user_id={USER_ID}&event={event}").status_code == 204

    counts = store.opens_ref(USER_ID, day).get().to_dict()
    assert counts == {"day": day, "open": 3, "prefetch": 1}


def test_error_bodies_are_plain_json(web: FlaskClient) -> None:
    response = get(web, "user_id=%3Cscript%3E")

    assert json.loads(response.get_data()) == {
        "error": (
            "user_id '<script>' is not a numeric Instagram user id (1 to 20 digits)"
        )
    }
