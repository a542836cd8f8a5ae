from __future__ import annotations

import io
import json

import pytest

from instapipe import config, logs


@pytest.fixture
def output() -> io.StringIO:
    stream = io.StringIO()
    logs.configure(stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_json_with_severity_message_and_fields(output: io.StringIO) -> None:
    logs.get("instapipe.test").warning("story skipped", story_id="33", user_id="11")

    [line] = lines(output)
    assert line["severity"] == "WARNING"
    assert line["message"] == "story skipped"
    assert line["story_id"] == "33"
    assert line["user_id"] == "11"


def test_configured_secrets_never_reach_the_log(
    output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTAGRAM_SESSIONID", "8123%3Asession%3Acookie")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:AAbot-token-value")
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-1001234567890")
    settings = config.settings()
    token = settings.telegram_bot_token
    assert token is not None
    log = logs.get("instapipe.test")

    log.info("settings loaded", settings=settings)
    log.info("calling", url=f"https://api.telegram.org/bot{token.reveal()}/sendPhoto")
    try:
        raise RuntimeError(f"cookie {settings.instagram_credential().reveal()} refused")
    except RuntimeError:
        log.exception("request failed")

    text = output.getvalue()
    assert len(lines(output)) == 3
    assert "8123%3Asession%3Acookie" not in text
    assert "AAbot-token-value" not in text
    assert text.count(logs.REDACTED) >= 2
