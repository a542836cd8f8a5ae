"""Telegram delivery against the Firestore emulator, the Bot API and CDN stand-ins."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from instapipe import store, telegram
from instapipe.errors import PermanentError, RetryableError
from instapipe.store import ArchivedStory
from instapipe.story import Story
from stack.emulators import free_port
from stack.fakes.cdn import FakeCdn, Media
from stack.fakes.telegram import (
    BotApiError,
    FakeTelegram,
    Stall,
    server_error,
    too_many_requests,
)
from tests.conftest import reset_process_state
from tests.telegram_support import (
    CHAT_ID,
    DATA,
    PHOTO_JPEG,
    bot,
    cdn,
    configure,
    lines,
    output,
    push,
    push_until_acknowledged,
    story,
)

__all__ = ["bot", "cdn", "output"]

MB = 1024 * 1024


def ledger(story_id: str) -> dict[str, object]:
    snapshot = store.delivery_ref(CHAT_ID, story_id).get()
    return snapshot.to_dict() or {} if snapshot.exists else {}


def archive(item: Story, signed_url: str, size_bytes: int) -> ArchivedStory:
    """Stores the story as the archive function would once it has the media."""
    archived = ArchivedStory(
        story=item,
        bucket_path=f"gs://bucket/{item.id}",
        object_name=item.id,
        content_type="video/mp4" if item.is_video else "image/jpeg",
        size_bytes=size_bytes,
        archived_at=int(time.time()),
        signed_url=signed_url,
        signed_url_expires_at=int(time.time()) + 86_400,
    )
    store.story_ref(item.user_id, item.id).set(archived.to_document())
    return archived


def errors(stream: io.StringIO) -> list[dict[str, object]]:
    return [line for line in lines(stream) if line["severity"] == "ERROR"]


# What goes out, and as what.


def test_a_photo_goes_as_a_photo(bot: FakeTelegram, cdn: FakeCdn) -> None:
    photo = story("photo", cdn)

    push(photo)

    [message] = bot.posted(CHAT_ID)
    assert message.kind == "photo"
    assert message.upload is not None
    assert (message.upload.width, message.upload.height) == (64, 96)
    assert message.upload.sha256 == hashlib.sha256(PHOTO_JPEG).hexdigest()
    assert ledger(photo.id)["message_id"] == message.message_id
    assert ledger(photo.id)["state"] == "sent"


def test_a_video_goes_as_a_streamable_video_with_its_shape(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    video = story("video", cdn)

    push(video)

    [message] = bot.posted(CHAT_ID)
    assert message.kind == "video"
    assert message.upload is not None
    assert message.upload.size_bytes == 300_000
    assert message.params["width"] == "720"
    assert message.params["height"] == "1280"
    assert message.params["duration"] == "15"
    assert message.params["supports_streaming"] == "True"


def test_a_photo_over_10_mb_goes_as_a_document(bot: FakeTelegram, cdn: FakeCdn) -> None:
    cdn.add("/huge.jpg", Media("image/jpeg", size_bytes=11 * MB))
    photo = story("photo", cdn, media_url=cdn.url + "/huge.jpg")

    push(photo)

    [message] = bot.posted(CHAT_ID)
    assert message.kind == "document"
    assert message.upload is not None
    assert message.upload.size_bytes == 11 * MB
    assert [call.method for call in bot.calls] == ["sendDocument"]


def test_a_photo_known_to_be_too_long_goes_as_a_document(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    cdn.add("/pano.jpg", Media("image/jpeg", body=(DATA / "panorama.jpg").read_bytes()))
    photo = story(
        "photo", cdn, media_url=cdn.url + "/pano.jpg", width=9000, height=1200
    )

    push(photo)

    assert [m.kind for m in bot.posted(CHAT_ID)] == ["document"]
    assert [call.method for call in bot.calls] == ["sendDocument"]


@pytest.mark.parametrize("name", ["panorama.jpg", "narrow.jpg"])
def test_a_photo_telegram_refuses_for_its_shape_goes_as_a_document(
    bot: FakeTelegram, cdn: FakeCdn, name: str
) -> None:
    cdn.add("/" + name, Media("image/jpeg", body=(DATA / name).read_bytes()))
    # The Graph API gives no dimensions, so only Telegram's answer tells.
    photo = story("photo", cdn, media_url=cdn.url + "/" + name, width=None, height=None)

    push(photo)

    assert [m.kind for m in bot.posted(CHAT_ID)] == ["document"]
    assert [(c.method, c.status) for c in bot.calls] == [
        ("sendPhoto", 400),
        ("sendDocument", 200),
    ]


def test_a_video_over_50_mb_goes_as_its_cover_with_a_link_to_the_archive(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    cdn.add("/long.mp4", Media("video/mp4", size_bytes=51 * MB))
    video = story("video", cdn, media_url=cdn.url + "/long.mp4")
    signed_url = "http://storage.local/bucket/v.mp4?X-Goog-Signature=ab&x=1"
    archived = archive(video, signed_url, 51 * MB)

    push(video)

    [message] = bot.posted(CHAT_ID)
    assert message.kind == "photo"
    assert ("Watch the full video", archived.signed_url) in message.links()
    assert "link valid until" in message.text
    assert ledger(video.id)["kind"] == "cover"


def test_a_video_over_50_mb_not_archived_yet_links_to_instagram(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    cdn.add("/long.mp4", Media("video/mp4", size_bytes=51 * MB))
    video = story("video", cdn, media_url=cdn.url + "/long.mp4")

    push(video)

    [message] = bot.posted(CHAT_ID)
    assert message.kind == "photo"
    assert (
        "Watch the video on Instagram",
        f"https://www.instagram.com/stories/ana/{video.id}/",
    ) in message.links()


def test_a_media_download_failure_is_retried_before_anything_is_claimed(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    cdn.add("/flaky.jpg", Media("image/jpeg", body=(DATA / "photo.jpg").read_bytes()))
    cdn.media["/flaky.jpg"].failures.append(500)
    photo = story("photo", cdn, media_url=cdn.url + "/flaky.jpg")

    with pytest.raises(RetryableError, match="answered 500"):
        push(photo)
    claimed_after_failure = ledger(photo.id)
    push(photo)

    assert claimed_after_failure == {}
    assert len(bot.posted(CHAT_ID)) == 1


def test_an_expired_media_link_is_replaced_by_the_archived_copy(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    cdn.add("/gone.jpg", Media("image/jpeg", body=b"", failures=[403]))
    copy = cdn.add("/bucket/photo.jpg", Media("image/jpeg", body=PHOTO_JPEG))
    photo = story("photo", cdn, media_url=cdn.url + "/gone.jpg")
    archive(photo, copy + "?X-Goog-Signature=ab", len(PHOTO_JPEG))

    push(photo)

    [message] = bot.posted(CHAT_ID)
    assert message.kind == "photo"
    assert message.upload is not None
    assert message.upload.size_bytes == len(PHOTO_JPEG)
    assert cdn.requests["/bucket/photo.jpg"] == 1


def test_an_expired_media_link_without_an_archive_is_retried(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    cdn.add("/gone.jpg", Media("image/jpeg", body=b"", failures=[403]))
    photo = story("photo", cdn, media_url=cdn.url + "/gone.jpg")

    with pytest.raises(RetryableError, match="not archived yet"):
        push(photo)

    assert bot.posted(CHAT_ID) == []
    assert ledger(photo.id) == {}


# The caption.


def test_the_caption_shows_local_time_how_late_where_and_a_link(
    bot: FakeTelegram, cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(
        monkeypatch,
        bot,
        TELEGRAM_TIMEZONE="Asia/Tokyo",
        TELEGRAM_LINK_INSTAGRAM="true",
    )
    posted_at = int(time.time()) - 2 * 3600 - 5 * 60
    photo = story("photo", cdn, timestamp=posted_at)
    local = datetime.fromtimestamp(posted_at, ZoneInfo("Asia/Tokyo"))

    push(photo)

    [message] = bot.posted(CHAT_ID)
    assert message.text.splitlines() == [
        "ana_<b>&amp;",
        local.strftime("%a %d %b %Y, %H:%M JST") + " · posted 2 h 5 min ago",
        '📍 Café <Lisboa> & "Rio"',
        "Open on Instagram",
    ]
    assert message.links() == [
        (
            'Café <Lisboa> & "Rio"',
            "https://www.google.com/maps/search/?api=1&query=38.7223%2C-9.1393",
        ),
        ("Open on Instagram", photo.permalink),
    ]
    assert message.params["parse_mode"] == "HTML"


def test_a_fresh_story_does_not_say_how_long_ago(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    photo = story("photo", cdn, timestamp=int(time.time()) - 60, location=None)

    push(photo)

    [message] = bot.posted(CHAT_ID)
    assert "ago" not in message.text
    assert len(message.text.splitlines()) == 2
    assert message.links() == []


# Exactly once.


def test_a_redelivery_of_a_sent_story_is_acknowledged_without_sending(
    bot: FakeTelegram, cdn: FakeCdn, output: io.StringIO
) -> None:
    photo = story("photo", cdn)
    push(photo)

    push(photo)

    assert len(bot.posted(CHAT_ID)) == 1
    assert len(bot.calls) == 1
    assert lines(output)[-1]["message"].startswith("story already posted")


def test_a_claim_with_a_running_lease_is_left_to_its_sender(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    photo = story("photo", cdn)
    store.delivery_ref(CHAT_ID, photo.id).set(
        {"state": "sending", "lease_until": time.time() + 60, "attempts": 1}
    )

    with pytest.raises(RetryableError, match="another attempt"):
        push(photo)

    assert bot.posted(CHAT_ID) == []


def test_a_crash_after_claiming_is_retried_once_the_lease_ran_out(
    bot: FakeTelegram, cdn: FakeCdn, output: io.StringIO
) -> None:
    photo = story("photo", cdn)
    store.delivery_ref(CHAT_ID, photo.id).set(
        {"state": "sending", "lease_until": time.time() - 1, "attempts": 1}
    )

    push(photo)
    push(photo)

    assert len(bot.posted(CHAT_ID)) == 1
    assert ledger(photo.id)["attempts"] == 2
    assert ledger(photo.id)["state"] == "sent"
    assert any("lease ran out" in line["message"] for line in lines(output))


def test_three_concurrent_deliveries_post_once(bot: FakeTelegram, cdn: FakeCdn) -> None:
    photo = story("photo", cdn)
    start = threading.Barrier(3)
    outcomes: list[str] = []

    def deliver() -> None:
        start.wait()
        try:
            push(photo)
            outcomes.append("acknowledged")
        except RetryableError:
            outcomes.append("redeliver")

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    push_until_acknowledged([photo])

    assert len(bot.posted(CHAT_ID)) == 1
    assert "acknowledged" in outcomes
    assert ledger(photo.id)["message_id"] == bot.posted(CHAT_ID)[0].message_id


def test_no_answer_after_sending_leaves_the_story_uncertain_and_sends_again(
    bot: FakeTelegram, cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, bot, TELEGRAM_TIMEOUT_S="1")
    bot.then(Stall(2.5))
    photo = story("photo", cdn)

    with pytest.raises(RetryableError, match="may have posted"):
        push(photo)
    state_after_timeout = ledger(photo.id)["state"]
    push(photo)

    # The documented ambiguous window: Telegram took the first and the answer was lost.
    assert state_after_timeout == "uncertain"
    assert len(bot.posted(CHAT_ID)) == 2
    assert ledger(photo.id)["attempts"] == 2


def test_the_library_does_not_retry_by_itself(bot: FakeTelegram, cdn: FakeCdn) -> None:
    bot.then(server_error())
    photo = story("photo", cdn)

    with pytest.raises(RetryableError, match="502"):
        push(photo)

    assert [(c.method, c.status) for c in bot.calls] == [("sendPhoto", 502)]
    assert ledger(photo.id)["state"] == "released"


# Order and rate.


def test_a_story_older_than_one_already_posted_is_posted_with_a_warning(
    bot: FakeTelegram, cdn: FakeCdn, output: io.StringIO
) -> None:
    newer = story("video", cdn)
    older = story("photo", cdn)
    push(newer)

    push(older)

    assert [m.kind for m in bot.posted(CHAT_ID)] == ["video", "photo"]
    [warning] = [line for line in lines(output) if line["severity"] == "WARNING"]
    assert warning["newer_story_id"] == newer.id
    assert warning["story_id"] == older.id


def test_the_chat_budget_is_not_exceeded_within_the_attempt(
    bot: FakeTelegram, cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, bot, TELEGRAM_MAX_PER_MINUTE="2", TELEGRAM_TIMEOUT_S="1")
    photos = [story("photo", cdn, id=f"33000000000000002{n:02}") for n in range(3)]
    push(photos[0])
    push(photos[1])

    started = time.monotonic()
    with pytest.raises(RetryableError, match="no free message slot"):
        push(photos[2])

    assert time.monotonic() - started < 1
    assert len(bot.posted(CHAT_ID)) == 2
    assert ledger(photos[2].id)["state"] == "released"


def test_a_sender_waits_for_the_next_slot_when_it_fits(
    bot: FakeTelegram, cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, bot, TELEGRAM_MAX_PER_MINUTE="2")
    # Two messages went out 59.4 s ago: the next slot opens in 0.6 s.
    sent_at = time.time() - 59.4
    store.telegram_chat_ref(CHAT_ID).set({"slots": [sent_at, sent_at]})

    started = time.monotonic()
    push(story("photo", cdn))

    assert time.monotonic() - started >= 0.5
    assert len(bot.posted(CHAT_ID)) == 1


def test_a_429_is_waited_out_when_it_fits(bot: FakeTelegram, cdn: FakeCdn) -> None:
    bot.then(too_many_requests(1))

    started = time.monotonic()
    push(story("photo", cdn))

    assert time.monotonic() - started >= 1
    assert [(c.method, c.status) for c in bot.calls] == [
        ("sendPhoto", 429),
        ("sendPhoto", 200),
    ]
    assert len(bot.posted(CHAT_ID)) == 1


def test_a_429_longer_than_the_attempt_is_redelivered_without_asking_again(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    bot.then(too_many_requests(30))
    photo = story("photo", cdn)

    with pytest.raises(RetryableError, match="wait 30 s"):
        push(photo)
    with pytest.raises(RetryableError, match="no free message slot"):
        push(photo)

    assert [c.status for c in bot.calls] == [429]
    assert bot.posted(CHAT_ID) == []


def test_a_429_storm_during_a_backlog_of_30_delivers_all_in_order_once(
    bot: FakeTelegram, cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 1 s wait fits an attempt of 1.5 s; a 2 s one does not, so Pub/Sub redelivers.
    configure(
        monkeypatch, bot, TELEGRAM_TIMEOUT_S="1.5", TELEGRAM_MAX_PER_MINUTE="1000"
    )
    base = int(time.time()) - 3600
    backlog = [
        story("photo", cdn, id=f"33000000000000003{n:02}", timestamp=base + n)
        for n in range(30)
    ]
    storm = [None, too_many_requests(1), None, None, too_many_requests(2)]
    bot.then(*storm, None, too_many_requests(1), too_many_requests(1), *storm)

    nacks = push_until_acknowledged(backlog)

    posted = bot.posted(CHAT_ID)
    story_ids = [ledger(item.id)["message_id"] for item in backlog]
    assert [m.message_id for m in posted] == story_ids
    assert len(posted) == 30
    assert nacks >= 2
    assert sum(c.status == 429 for c in bot.calls) == 6


# Refusals, migration, quiet hours, off.


@pytest.mark.parametrize(
    "refusal",
    [
        BotApiError(403, "Forbidden: bot was kicked from the supergroup chat"),
        BotApiError(403, "Forbidden: bot is not a member of the channel chat"),
        BotApiError(403, "Forbidden: bot was blocked by the user"),
        BotApiError(400, "Bad Request: need administrator rights in the channel chat"),
        BotApiError(400, "Bad Request: not enough rights to send photos to the chat"),
    ],
)
def test_a_chat_closed_to_the_bot_is_logged_once_and_given_up(
    bot: FakeTelegram, cdn: FakeCdn, output: io.StringIO, refusal: BotApiError
) -> None:
    bot.refuse(CHAT_ID, refusal)
    photo = story("photo", cdn)

    push(photo)

    [error] = errors(output)
    assert refusal.description in str(error["error"])
    assert "check that TELEGRAM_CHAT_ID" in str(error["error"])
    assert ledger(photo.id)["state"] == "failed"
    assert len(bot.calls) == 1


def test_an_unknown_chat_is_logged_once_and_given_up(
    bot: FakeTelegram,
    cdn: FakeCdn,
    output: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-1000000000001")
    reset_process_state()

    push(story("photo", cdn))

    [error] = errors(output)
    assert "chat not found" in str(error["error"])
    assert bot.posted(CHAT_ID) == []


def test_a_token_telegram_refuses_is_given_up_and_never_logged(
    bot: FakeTelegram,
    cdn: FakeCdn,
    output: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "999:AAwrong-token-never-to-be-logged")
    reset_process_state()

    push(story("photo", cdn))

    [error] = errors(output)
    assert "401" in str(error["error"])
    assert "@BotFather" in str(error["error"])
    assert "wrong-token" not in output.getvalue()


def test_an_unreachable_api_names_no_url(
    bot: FakeTelegram, cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on a port just handed out and released.
    monkeypatch.setenv("TELEGRAM_API_URL", f"http://127.0.0.1:{free_port()}")
    reset_process_state()

    with pytest.raises(RetryableError) as raised:
        push(story("photo", cdn))

    assert "nothing was sent" in str(raised.value)
    assert bot.token not in str(raised.value)
    assert raised.value.__cause__ is None


def test_a_migrated_group_is_followed_and_remembered(
    bot: FakeTelegram, cdn: FakeCdn, output: io.StringIO
) -> None:
    bot.migrate(CHAT_ID, "-1009876543210")

    push(story("photo", cdn))
    push(story("video", cdn))

    assert [m.kind for m in bot.posted("-1009876543210")] == ["photo", "video"]
    assert [(c.chat_id, c.status) for c in bot.calls] == [
        (CHAT_ID, 400),
        ("-1009876543210", 200),
        ("-1009876543210", 200),
    ]
    [warning] = [line for line in lines(output) if line["severity"] == "WARNING"]
    assert warning["new_chat_id"] == "-1009876543210"
    assert "set TELEGRAM_CHAT_ID" in str(warning["message"])


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_hours_send_without_sound(
    bot: FakeTelegram, cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch, quiet: bool
) -> None:
    hour = datetime.now(ZoneInfo("Europe/Berlin")).hour
    start = hour if quiet else (hour + 1) % 24
    configure(
        monkeypatch,
        bot,
        TELEGRAM_TIMEZONE="Europe/Berlin",
        TELEGRAM_QUIET_HOURS=f"{start}-{(start + 1) % 24}",
    )

    push(story("photo", cdn))

    [message] = bot.posted(CHAT_ID)
    assert message.silent is quiet


def test_without_a_token_delivery_is_off_and_said_once(
    cdn: FakeCdn, output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telegram, "_said_off", False)

    push(story("photo", cdn))
    push(story("video", cdn))
    telegram.send_alert("session expired")

    [line] = lines(output)
    assert line["message"] == "Telegram delivery is off: TELEGRAM_BOT_TOKEN is not set"
    assert cdn.requests == {}


# Alerts.


def test_an_alert_is_plain_text(bot: FakeTelegram) -> None:
    telegram.send_alert("Instagram session for <ana> expired & needs a new sessionid")

    [message] = bot.posted(CHAT_ID)
    assert message.kind == "text"
    assert message.text == "Instagram session for <ana> expired & needs a new sessionid"
    assert "parse_mode" not in message.params


def test_an_alert_respects_the_chat_budget(
    bot: FakeTelegram, cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, bot, TELEGRAM_MAX_PER_MINUTE="1", TELEGRAM_TIMEOUT_S="1")
    push(story("photo", cdn))

    with pytest.raises(RetryableError, match="no free message slot"):
        telegram.send_alert("token expires in 3 days")

    assert [m.kind for m in bot.posted(CHAT_ID)] == ["photo"]


def test_an_alert_to_a_closed_chat_is_permanent(bot: FakeTelegram) -> None:
    bot.refuse(
        CHAT_ID, BotApiError(403, "Forbidden: bot was kicked from the group chat")
    )

    with pytest.raises(PermanentError, match="kicked"):
        telegram.send_alert("session expired")


def test_a_graph_video_without_its_file_goes_as_its_cover_with_a_note(
    bot: FakeTelegram, cdn: FakeCdn
) -> None:
    video = story("video", cdn, media_url=cdn.url + "/cover.jpg", media_is_cover=True)

    push(replace(video, source="graph"))

    [message] = bot.posted(CHAT_ID)
    assert message.kind == "photo"
    assert "its cover is shown" in message.text
