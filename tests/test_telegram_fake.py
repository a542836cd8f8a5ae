"""The Bot API stand-in speaks Telegram's format, so tests that rely on it mean it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from stack.fakes.telegram import (
    BotApiError,
    FakeTelegram,
    Stall,
    parse_html,
    too_many_requests,
)
from tests.telegram_support import CHAT_ID, DATA

PHOTO = (DATA / "photo.jpg").read_bytes()


@pytest.fixture
def api() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    server.add_chat(CHAT_ID)
    yield server
    server.stop()


def call(api: FakeTelegram, method: str, **kwargs: Any) -> requests.Response:
    url = f"{api.url}/bot{api.token}/{method}"
    return requests.post(url, timeout=5, **kwargs)


def test_parameters_in_the_query_string_are_read(api: FakeTelegram) -> None:
    response = call(api, "sendMessage", params={"chat_id": CHAT_ID, "text": "hi"})

    assert response.json()["ok"] is True
    assert response.json()["result"]["text"] == "hi"
    assert [m.text for m in api.posted(CHAT_ID)] == ["hi"]


def test_parameters_in_an_urlencoded_form_are_read(api: FakeTelegram) -> None:
    response = call(api, "sendMessage", data={"chat_id": CHAT_ID, "text": "a&b=c"})

    assert response.json()["result"]["chat"]["id"] == int(CHAT_ID)
    assert api.posted(CHAT_ID)[0].text == "a&b=c"


def test_parameters_in_a_json_body_are_read(api: FakeTelegram) -> None:
    body = {"chat_id": int(CHAT_ID), "text": "hi", "disable_notification": True}

    call(api, "sendMessage", json=body)

    assert api.posted(CHAT_ID)[0].silent is True


def test_a_multipart_photo_is_checked_and_recorded(api: FakeTelegram) -> None:
    response = call(
        api,
        "sendPhoto",
        params={"chat_id": CHAT_ID, "caption": "<b>x</b>", "parse_mode": "HTML"},
        files={"photo": ("p.jpg", PHOTO, "image/jpeg")},
    )

    [size] = response.json()["result"]["photo"]
    assert (size["width"], size["height"]) == (64, 96)
    [message] = api.posted(CHAT_ID)
    assert message.upload is not None
    assert message.upload.size_bytes == len(PHOTO)
    assert message.entities == [{"type": "bold", "offset": 0, "length": 1}]


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ((DATA / "panorama.jpg").read_bytes(), "Bad Request: PHOTO_INVALID_DIMENSIONS"),
        ((DATA / "narrow.jpg").read_bytes(), "Bad Request: PHOTO_INVALID_DIMENSIONS"),
        (b"not an image", "Bad Request: IMAGE_PROCESS_FAILED"),
        (b"\xff" * (10 * 1024 * 1024 + 1), "Bad Request: PHOTO_SAVE_FILE_INVALID"),
    ],
)
def test_photos_outside_the_limits_are_refused(
    api: FakeTelegram, body: bytes, description: str
) -> None:
    response = call(
        api,
        "sendPhoto",
        params={"chat_id": CHAT_ID},
        files={"photo": ("p.jpg", body, "image/jpeg")},
    )

    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error_code": 400,
        "description": description,
    }
    assert api.posted(CHAT_ID) == []


def test_a_file_over_50_mb_is_too_large(api: FakeTelegram) -> None:
    response = call(
        api,
        "sendDocument",
        params={"chat_id": CHAT_ID},
        files={"document": ("d.bin", b"\0" * (50 * 1024 * 1024 + 1))},
    )

    assert response.status_code == 413
    assert response.json()["description"] == "Request Entity Too Large"


def test_a_wrong_token_is_unauthorized(api: FakeTelegram) -> None:
    response = requests.post(
        f"{api.url}/bot1:wrong/sendMessage",
        params={"chat_id": CHAT_ID, "text": "x"},
        timeout=5,
    )

    assert response.status_code == 401
    assert response.json() == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }


def test_an_unknown_chat_is_not_found(api: FakeTelegram) -> None:
    response = call(api, "sendMessage", params={"chat_id": "-100555", "text": "x"})

    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: chat not found"


def test_a_migrated_group_names_its_new_id(api: FakeTelegram) -> None:
    api.migrate(CHAT_ID, "-1002222")

    response = call(api, "sendMessage", params={"chat_id": CHAT_ID, "text": "x"})

    assert response.json()["parameters"] == {"migrate_to_chat_id": -1002222}


def test_a_scripted_429_carries_retry_after_then_service_resumes(
    api: FakeTelegram,
) -> None:
    api.then(too_many_requests(7))
    params = {"chat_id": CHAT_ID, "text": "x"}

    first = call(api, "sendMessage", params=params)
    second = call(api, "sendMessage", params=params)

    assert first.status_code == 429
    assert first.json()["parameters"] == {"retry_after": 7}
    assert first.json()["description"] == "Too Many Requests: retry after 7"
    assert second.status_code == 200


def test_a_refusing_chat_answers_with_its_error(api: FakeTelegram) -> None:
    api.refuse(CHAT_ID, BotApiError(403, "Forbidden: bot was blocked by the user"))

    response = call(api, "sendMessage", params={"chat_id": CHAT_ID, "text": "x"})

    assert response.status_code == 403
    assert api.posted(CHAT_ID) == []


def test_a_stall_records_the_message_but_answers_late(api: FakeTelegram) -> None:
    api.then(Stall(1.0))

    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            f"{api.url}/bot{api.token}/sendMessage",
            params={"chat_id": CHAT_ID, "text": "x"},
            timeout=0.3,
        )

    assert [m.text for m in api.posted(CHAT_ID)] == ["x"]


@pytest.mark.parametrize(
    ("caption", "description"),
    [
        ("<script>x</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("a < b", "Unexpected character '<' at byte offset 2"),
        ("fish & chips", "Unexpected character '&' at byte offset 5"),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
    ],
)
def test_html_that_telegram_cannot_parse_is_refused(
    api: FakeTelegram, caption: str, description: str
) -> None:
    response = call(
        api,
        "sendMessage",
        params={"chat_id": CHAT_ID, "text": caption, "parse_mode": "HTML"},
    )

    assert response.status_code == 400
    assert response.json()["description"] == (
        f"Bad Request: can't parse entities: {description}"
    )


def test_html_links_and_entities_are_parsed_in_utf16_units() -> None:
    raw = '📍 <a href="https://m.example/?a=1&amp;b=2">Caf&#233; &lt;1&gt;</a>'

    text, entities = parse_html(raw)

    assert text == "📍 Café <1>"
    assert entities == [
        {
            "type": "text_link",
            "offset": 3,
            "length": 8,
            "url": "https://m.example/?a=1&b=2",
        }
    ]


def test_a_caption_over_1024_characters_is_refused(api: FakeTelegram) -> None:
    response = call(
        api,
        "sendPhoto",
        params={"chat_id": CHAT_ID, "caption": "x" * 1025},
        files={"photo": ("p.jpg", PHOTO, "image/jpeg")},
    )

    assert response.json()["description"] == "Bad Request: message caption is too long"


def test_an_unknown_method_is_not_found(api: FakeTelegram) -> None:
    response = call(api, "sendTeleport", params={"chat_id": CHAT_ID})

    assert response.status_code == 404
    assert json.loads(response.text)["description"] == "Not Found"
