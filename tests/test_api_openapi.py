"""Real stories_json answers checked against docs/openapi.json, and the description
held to the code's own parameter names and limits."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from instapipe import api_params
from instapipe.story import Location
from stack.emulators import Emulators
from tests.api_support import (
    OPENAPI,
    USER_ID,
    archive,
    client,
    resolve,
    response_spec,
    schema_errors,
)

DAY_S = 86400


@pytest.fixture
def web(cloud: Emulators) -> FlaskClient:
    return client()


def check_against_spec(response: Any, method: str = "get") -> None:
    spec = response_spec(response.status_code, method)
    for name, header in spec.get("headers", {}).items():
        header = resolve(header)
        value = response.headers.get(name)
        if header.get("required") or value is not None:
            assert value is not None, f"header {name} missing"
            assert schema_errors(value, header["schema"], name) == []
    content = spec.get("content")
    if content is None:
        assert response.get_data() == b""
        return
    assert response.mimetype in content
    schema = content[response.mimetype]["schema"]
    assert schema_errors(response.get_json(), schema) == []


def test_a_last_day_answer_matches_the_description(web: FlaskClient) -> None:
    now = int(time.time())
    archive("3300000000000000070", now - 300, location=Location("Kreuzberg", 52.5))
    archive("3300000000000000071", now - 200, is_video=True)

    response = web.get(f"/?user_id={USER_ID}")

    assert response.status_code == 200 and len(response.get_json()) == 2
    check_against_spec(response)


def test_a_history_page_matches_the_description(web: FlaskClient) -> None:
    start = int(time.time()) - 20 * DAY_S
    for n in range(3):
        archive(f"33000000000000008{n}", start + n)

    response = web.get(f"/?user_id={USER_ID}&limit=2&before={start + 10}")

    assert response.status_code == 200 and "Link" in response.headers
    check_against_spec(response)


@pytest.mark.parametrize(
    "query", ["", "user_id=1", "user_id=x&limit=0", f"user_id={USER_ID}&limit=0"]
)
def test_error_answers_match_the_description(query: str) -> None:
    response = client().get(f"/?{query}")

    assert response.status_code in (400, 404)
    check_against_spec(response)


def test_ping_304_and_405_match_the_description(web: FlaskClient) -> None:
    archive("3300000000000000090", int(time.time()) - 60)
    etag = web.get(f"/?user_id={USER_ID}").headers["ETag"]

    ping = web.get(f"/?user_id={USER_ID}&event=prefetch")
    not_modified = web.get(f"/?user_id={USER_ID}", headers={"If-None-Match": etag})
    refused = web.put(f"/?user_id={USER_ID}")

    for response in (ping, not_modified, refused):
        check_against_spec(response)
    assert (ping.status_code, not_modified.status_code) == (204, 304)


def test_the_description_names_the_parameters_the_code_accepts() -> None:
    operation = OPENAPI["paths"]["/"]["get"]
    parameters = [resolve(p) for p in operation["parameters"]]
    query = {p["name"]: p for p in parameters if p["in"] == "query"}

    assert tuple(query) == api_params.PARAMETERS
    assert query["limit"]["schema"]["maximum"] == api_params.MAX_PAGE_LIMIT
    assert query["limit"]["schema"]["default"] == api_params.DEFAULT_PAGE_LIMIT
    assert query["event"]["schema"]["enum"] == list(api_params.EVENTS)


def test_the_checker_catches_a_story_that_breaks_the_description() -> None:
    schema = response_spec(200)["content"]["application/json"]["schema"]
    story = {"id": "1", "user_id": "x", "timestamp": "yesterday", "extra": 1}

    errors = schema_errors([story], schema)

    assert any("missing signed_url" in error for error in errors)
    assert any("timestamp" in error for error in errors)
    assert any("unexpected property extra" in error for error in errors)
    assert any("does not match" in error for error in errors)
