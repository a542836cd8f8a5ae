"""stories_json as deployed: functions/main.py's entry point under a real
functions-framework server process, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from stack.emulators import Emulators
from tests.api_support import (
    USER_ID,
    archive,
    fetch,
    functions_framework_server,
    response_spec,
    schema_errors,
)
from tests.conftest import BASE_ENV

TIMEOUT_S = 10


@pytest.fixture(scope="module")
def server(emulators: Emulators) -> Iterator[str]:
    # A tiny memory cache: the server outlives the per-test emulator reset.
    env = {**BASE_ENV, **emulators.env(), "API_CACHE_S": "0.01"}
    with functions_framework_server(env) as url:
        yield url


def test_the_entry_point_serves_the_stories(server: str, cloud: Emulators) -> None:
    archive("3300000000000000060", int(time.time()) - 120)
    archive("3300000000000000061", int(time.time()) - 60, is_video=True)

    response = requests.get(server, params={"user_id": USER_ID}, timeout=TIMEOUT_S)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    stories = response.json()
    schema = response_spec(200)["content"]["application/json"]["schema"]
    assert schema_errors(stories, schema) == []
    assert [s["id"] for s in stories] == ["3300000000000000060", "3300000000000000061"]
    assert fetch(stories[1]["signed_url"]) == b"media of story 3300000000000000061"


def test_the_entry_point_answers_304_and_head(server: str, cloud: Emulators) -> None:
    archive("3300000000000000062", int(time.time()) - 60)
    first = requests.get(server, params={"user_id": USER_ID}, timeout=TIMEOUT_S)

    again = requests.get(
        server,
        params={"user_id": USER_ID},
        headers={"If-None-Match": first.headers["ETag"]},
        timeout=TIMEOUT_S,
    )
    head = requests.head(server, params={"user_id": USER_ID}, timeout=TIMEOUT_S)

    assert again.status_code == 304 and again.content == b""
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == first.headers["ETag"]


def test_the_entry_point_answers_a_preflight(server: str) -> None:
    response = requests.options(
        server,
        headers={
            "Origin": "https://blog.example.org",
            "Access-Control-Request-Method": "GET",
        },
        timeout=TIMEOUT_S,
    )

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize(
    ("method", "params", "status"),
    [
        ("POST", {"user_id": USER_ID}, 405),
        ("DELETE", {"user_id": USER_ID}, 405),
        ("GET", {"user_id": "nope"}, 400),
        ("GET", {"user_id": "42"}, 404),
    ],
)
def test_the_entry_point_answers_errors_as_json(
    server: str, method: str, params: dict[str, str], status: int
) -> None:
    response = requests.request(method, server, params=params, timeout=TIMEOUT_S)

    assert response.status_code == status
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    schema = response_spec(status)["content"]["application/json"]["schema"]
    assert schema_errors(response.json(), schema) == []
