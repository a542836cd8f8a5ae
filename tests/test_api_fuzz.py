"""Fuzzed query strings: whatever arrives, stories_json answers 200, 204 or a JSON
4xx, never a 500."""

from __future__ import annotations

import time
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instapipe import api_params
from instapipe.feed import Position
from stack.emulators import Emulators
from tests.api_support import USER_ID, archive, client

CURSORS = st.builds(
    Position,
    st.integers(min_value=0, max_value=10**12 - 1),
    st.from_regex(r"(__)?[A-Za-z0-9_\-]{1,124}(__)?", fullmatch=True),
).map(api_params.encode_cursor)
NAMES = st.sampled_from([*api_params.PARAMETERS, "callback", "_", "", "user_id[]"])
VALUES = st.one_of(
    st.just(USER_ID),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    st.sampled_from(["open", "prefetch", "MTox", "", "%", "%zz", "NaN", "1e3"]),
    st.text(max_size=30),
    CURSORS,
    st.binary(max_size=20).map(lambda raw: "".join(f"%{b:02X}" for b in raw)),
)
PAIRS = st.lists(st.tuples(NAMES, VALUES), max_size=5)
RAW = st.text(alphabet=st.characters(codec="ascii"), max_size=60)
OK_STATUSES = {200, 204, 400, 404}


def encoded(pairs: list[tuple[str, str]]) -> str:
    # Values are sometimes pre-encoded bytes: keep their percent signs as they are.
    return "&".join(f"{quote(name)}={quote(value, safe='%')}" for name, value in pairs)


def assert_answered(query: str) -> None:
    response = client().get("/?" + query)

    assert response.status_code in OK_STATUSES, (query, response.get_data())
    if response.status_code >= 400:
        assert isinstance(response.get_json()["error"], str)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(pairs=PAIRS)
def test_parameter_soup_never_breaks_the_api(
    cloud: Emulators, pairs: list[tuple[str, str]]
) -> None:
    assert_answered(encoded([("user_id", USER_ID), *pairs]))


@settings(max_examples=150, deadline=None)
@given(raw=RAW)
def test_raw_query_strings_never_break_the_api(raw: str) -> None:
    assert_answered(raw.replace("#", "%23"))


def test_the_fuzzed_api_still_serves_stories(cloud: Emulators) -> None:
    archive("3300000000000000099", int(time.time()) - 60)

    response = client().get(f"/?user_id={USER_ID}")

    assert [story["id"] for story in response.get_json()] == ["3300000000000000099"]
