"""`make run`: the whole pipeline on this machine, until Ctrl-C.

Starts the emulators, the four functions behind real push subscriptions, a scheduler
that ticks the fetch function, and a server for the viewer. With INSTAGRAM_SESSIONID
(or INSTAGRAM_ACCESS_TOKEN) set it watches the real INSTAGRAM_USER_IDS; without, it
serves the project's sample account from a local Instagram, one more story each tick.
With TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID set it posts to Telegram for real.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType

import requests

from stack import sample
from stack.fakes.cdn import FakeCdn, Media
from stack.fakes.instagram import FakeInstagram
from stack.pipeline import LocalPipeline
from stack.viewer_server import ViewerServer

LOCAL_PROJECT = "instapipe-local"
LOCAL_BUCKET = "instapipe-local-media"
# How often the local scheduler calls fetch (Cloud Scheduler's default is 5 minutes).
DEFAULT_LOCAL_TICK_S = 10.0
_PASSED_THROUGH = ("INSTAGRAM_", "TELEGRAM_", "MEDIA_", "SIGNED_", "API_", "STORIES_")
_CONTENT_TYPES = {"jpg": "image/jpeg", "mp4": "video/mp4"}


def say(line: str) -> None:
    print(f"[instapipe] {line}", flush=True)


def local_tick_s() -> float:
    raw = os.environ.get("LOCAL_TICK_S", "")
    try:
        tick_s = float(raw) if raw else DEFAULT_LOCAL_TICK_S
    except ValueError:
        tick_s = 0.0
    if not 1 <= tick_s <= 3600:
        raise SystemExit(
            f"LOCAL_TICK_S={raw!r} is not valid: expected seconds between 1 and 3600"
        )
    return tick_s


def owner_settings() -> dict[str, str]:
    passed = {k: v for k, v in os.environ.items() if k.startswith(_PASSED_THROUGH)}
    return {
        "GOOGLE_CLOUD_PROJECT": LOCAL_PROJECT,
        "MEDIA_BUCKET": LOCAL_BUCKET,
        **passed,
    }


def watches_real_accounts(settings: dict[str, str]) -> bool:
    return bool(
        settings.get("INSTAGRAM_SESSIONID") or settings.get("INSTAGRAM_ACCESS_TOKEN")
    )


class SampleAccount:
    """The sample account on a local Instagram and CDN; `reveal()` posts one more."""

    def __init__(self, stack: ExitStack) -> None:
        self.cdn = FakeCdn().start()
        stack.callback(self.cdn.stop)
        for path in sample.SAMPLE_DIR.iterdir():
            content_type = _CONTENT_TYPES[path.suffix.lstrip(".")]
            self.cdn.add(f"/sample/{path.name}", Media(content_type, path.read_bytes()))
        self.instagram = FakeInstagram().start()
        stack.callback(self.instagram.stop)
        self.now = int(time.time())
        self.shown = 1
        self._publish()

    def settings(self) -> dict[str, str]:
        return {
            "INSTAGRAM_SOURCE": "private",
            "INSTAGRAM_API_URL": self.instagram.url,
            "INSTAGRAM_SESSIONID": self.instagram.sessionid,
            "INSTAGRAM_USER_IDS": sample.SAMPLE_USER_ID,
        }

    def reveal(self) -> None:
        if self.shown < len(sample.STORIES):
            self.shown += 1
            self._publish()

    def _publish(self) -> None:
        items = sample.sample_items(self.cdn.url, self.now, self.shown)
        self.instagram.add_reels(
            sample.reel(sample.SAMPLE_USER_ID, sample.SAMPLE_USERNAME, items)
        )


@contextmanager
def stopped_by_signals() -> Iterator[threading.Event]:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        yield stop
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def tick_summary(response: requests.Response) -> str:
    """One line per tick: what each account got, or why the tick failed."""
    try:
        accounts = response.json()["accounts"]
    except (ValueError, KeyError, TypeError):
        return f"tick: HTTP {response.status_code} {response.text.strip()[:200]}"
    parts = [
        f"{a['user_id']} {a['status']}: {a['new']} new, {a['known']} known"
        + (f" ({a['error']})" if a.get("error") else "")
        for a in accounts
    ]
    return f"tick: HTTP {response.status_code}; " + "; ".join(parts)


def announce(
    pipeline: LocalPipeline,
    viewer: ViewerServer,
    settings: dict[str, str],
    tick_s: float,
) -> None:
    user_ids = settings["INSTAGRAM_USER_IDS"].split(",")
    say(
        f"emulators: Firestore {pipeline.emulators.firestore.host_port}, "
        f"Pub/Sub {pipeline.emulators.pubsub.host_port}, "
        f"Cloud Storage {pipeline.emulators.storage.url}"
    )
    for target, server in pipeline.functions.items():
        say(f"function {target}: {server.url}")
    api_url = pipeline.url("stories_json")
    say(f"stories.json: {api_url}/stories.json?user_id={user_ids[0]}")
    say(f"viewer: {viewer.url}")
    say(f"watching {', '.join(user_ids)}; fetch ticks every {tick_s:g}s")
    if settings.get("TELEGRAM_BOT_TOKEN"):
        say(f"Telegram: posting to chat {settings.get('TELEGRAM_CHAT_ID')}")
    else:
        say("Telegram: delivery is off (set TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID)")
    say("Ctrl-C stops everything")


def main() -> None:
    tick_s = local_tick_s()
    settings = owner_settings()
    with ExitStack() as stack, stopped_by_signals() as stop:
        account = None
        if watches_real_accounts(settings):
            if not settings.get("INSTAGRAM_USER_IDS"):
                raise SystemExit("INSTAGRAM_USER_IDS is not set: the ids to watch")
            say("watching real Instagram accounts")
        else:
            account = SampleAccount(stack)
            settings.update(account.settings())
            say("no INSTAGRAM_SESSIONID: serving the sample account")
        pipeline = LocalPipeline(settings)
        say("starting the emulators and the functions ...")
        pipeline.start()
        stack.callback(pipeline.stop)
        first_user_id = settings["INSTAGRAM_USER_IDS"].split(",")[0]
        viewer = ViewerServer(
            f"{pipeline.url('stories_json')}/stories.json?user_id={first_user_id}"
        )
        viewer.start()
        stack.callback(viewer.stop)
        announce(pipeline, viewer, settings, tick_s)
        while not stop.is_set():
            say(tick_summary(pipeline.tick()))
            if account is not None:
                account.reveal()
            stop.wait(tick_s)
        say("stopping ...")


if __name__ == "__main__":
    main()
