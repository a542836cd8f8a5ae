from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from instapipe import story as story_module
from instapipe.errors import MessageError, PermanentError
from instapipe.story import Location, Story

STORY = Story(
    id="3300000000000000001",
    user_id="1111111111",
    username="owner",
    timestamp=1_796_000_000,
    expires_at=1_796_086_400,
    is_video=True,
    media_url="https://cdn.example/v.mp4?sig=1",
    source="private",
    width=720,
    height=1280,
    duration_s=5.5,
    location=Location("Lisbon", 38.72, -9.14),
    cover_url="https://cdn.example/c.jpg",
    permalink="https://www.instagram.com/stories/owner/3300000000000000001/",
)


def body(**story_overrides: Any) -> dict[str, Any]:
    message = json.loads(story_module.encode(STORY))
    message["story"].update(story_overrides)
    return message


def test_a_story_survives_encoding() -> None:
    assert story_module.decode(story_module.encode(STORY)) == STORY


def test_a_minimal_photo_survives_encoding() -> None:
    photo = replace(
        STORY, is_video=False, width=None, height=None, duration_s=None, location=None
    )

    assert story_module.decode(story_module.encode(photo)) == photo


def test_the_body_names_its_version() -> None:
    assert json.loads(story_module.encode(STORY))["version"] == 1


def test_attributes_carry_the_ids() -> None:
    assert STORY.attributes() == {"user_id": "1111111111", "story_id": STORY.id}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "is a list, expected object"),
        (json.dumps({"story": {}}).encode(), "version is None"),
        (json.dumps({"version": 2, "story": {}}).encode(), "version is 2"),
        (json.dumps({"version": 1}).encode(), "no 'story' object"),
    ],
)
def test_malformed_bodies_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(MessageError, match=reason):
        story_module.decode(data)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"id": None}, "'id' is missing"),
        ({"id": ""}, "'id' is '', expected a non-empty string"),
        ({"user_id": 1111}, "'user_id' is 1111, expected a non-empty string"),
        ({"timestamp": "yesterday"}, "'timestamp' is 'yesterday'"),
        ({"timestamp": -1}, "expected a non-negative integer"),
        ({"expires_at": True}, "'expires_at' is True"),
        ({"is_video": "yes"}, "'is_video' is 'yes', expected true or false"),
        ({"source": "scraper"}, "'source' is 'scraper', expected 'private' or 'graph'"),
        ({"width": 1.5}, "'width' is 1.5"),
        ({"duration_s": "long"}, "'duration_s' is 'long', expected a number"),
        ({"location": "Lisbon"}, "'location' must be an object or null"),
        ({"location": {"lat": 1.0}}, "'location.name' is missing"),
        ({"location": {"name": "x", "lat": "N"}}, "'location.lat' is 'N'"),
    ],
)
def test_wrong_fields_are_named(overrides: dict[str, Any], reason: str) -> None:
    data = json.dumps(body(**overrides)).encode()

    with pytest.raises(MessageError, match=reason):
        story_module.decode(data)


def test_a_push_envelope_yields_the_story_and_message_id() -> None:
    data = base64.b64encode(story_module.encode(STORY)).decode()
    envelope = {"message": {"data": data, "messageId": "77"}, "subscription": "s"}

    assert story_module.decode_push(envelope) == (STORY, "77")


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ({}, "no Pub/Sub 'message'"),
        ({"message": {"data": "%%%", "messageId": "9"}}, "message data is not base64"),
        ({"message": {"data": "", "messageId": "9"}}, "message body is not JSON"),
    ],
)
def test_a_broken_push_envelope_is_permanent(
    envelope: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MessageError, match=reason) as raised:
        story_module.decode_push(envelope)

    assert isinstance(raised.value, PermanentError)
    assert raised.value.message_id == envelope.get("message", {}).get("messageId", "")
