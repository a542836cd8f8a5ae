"""What an idle fetch tick costs for 1, 10 and 100 watched accounts.

Each size runs against the emulators and the local Instagram: a first tick publishes one
story per account, then idle ticks (nothing new) are measured: Instagram requests,
Firestore document reads, and the median wall time of five. The baseline, measured in
the same run, is the naive fetcher: one Instagram request per account
(`INSTAGRAM_BATCH_SIZE=1`), which also reads each account document once.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from benchmarks import Figure, instapipe_env
from instapipe import clients, fetching
from stack.emulators import Emulators
from stack.fakes.instagram import FakeInstagram
from tests.conftest import reset_process_state
from tests.fetch_support import FAST_ENV, FirestoreReads, recorded

ACCOUNT_COUNTS = (1, 10, 100)
PROJECT = "instapipe-bench"
BUCKET = "instapipe-bench-media"
FIRST_USER_ID = 5_000_000_000
REPEATS = 5
NAIVE = "naive: one request per account"


@dataclass(frozen=True)
class Cost:
    requests: int
    reads: int
    seconds: float


def run() -> list[Figure]:
    emulators = Emulators(PROJECT)
    emulators.start()
    fake = FakeInstagram().start()
    try:
        figures: list[Figure] = []
        for accounts in ACCOUNT_COUNTS:
            figures.extend(_figures(accounts, emulators, fake))
        return figures
    finally:
        fake.stop()
        emulators.stop()
        reset_process_state()


def _figures(accounts: int, emulators: Emulators, fake: FakeInstagram) -> list[Figure]:
    user_ids = [str(FIRST_USER_ID + n) for n in range(accounts)]
    _show_one_story_each(fake, user_ids)
    with _environment(emulators, fake, user_ids, batch_size=None):
        emulators.reset()
        clients.publisher().create_topic(name=clients.topic_path())
        _tick(fake)
        idle = _idle_ticks(fake)
    with _environment(emulators, fake, user_ids, batch_size=1):
        naive = _idle_ticks(fake)
    label = f"fetch idle tick, {accounts} account{'s' if accounts > 1 else ''}"
    return [
        Figure(
            f"{label}: Instagram requests", idle.requests, "req", NAIVE, naive.requests
        ),
        Figure(f"{label}: Firestore reads", idle.reads, "reads", NAIVE, naive.reads),
        Figure(
            f"{label}: wall time",
            idle.seconds * 1000,
            "ms",
            NAIVE,
            naive.seconds * 1000,
        ),
    ]


def _show_one_story_each(fake: FakeInstagram, user_ids: list[str]) -> None:
    template = recorded("reels_media_two_accounts.json")["reels"]["2222222222"]
    fake.reels.clear()
    for n, user_id in enumerate(user_ids):
        reel = copy.deepcopy(template)
        reel["user"].update(pk=int(user_id), username=f"account{n}")
        reel["items"][0].update(pk=3_400_000_000_000_000_000 + n, user=reel["user"])
        fake.reels[user_id] = reel


def _idle_ticks(fake: FakeInstagram) -> Cost:
    """The cost of one idle tick; its time is the median of several, as one tick's
    time on a shared machine is noise."""
    costs = [_tick(fake) for _ in range(REPEATS)]
    if len({(c.requests, c.reads) for c in costs}) != 1:
        raise RuntimeError(f"idle ticks cost differently: {costs}")
    seconds = statistics.median(c.seconds for c in costs)
    return Cost(costs[0].requests, costs[0].reads, seconds)


def _tick(fake: FakeInstagram) -> Cost:
    requests_before = fake.count()
    with FirestoreReads().counting() as reads:
        started = time.perf_counter()
        outcomes = fetching.tick()
        seconds = time.perf_counter() - started
    failed = [o for o in outcomes if o.status != "ok"]
    if failed:
        raise RuntimeError(f"benchmark tick failed: {failed[0]}")
    return Cost(fake.count() - requests_before, reads.documents, seconds)


@contextmanager
def _environment(
    emulators: Emulators,
    fake: FakeInstagram,
    user_ids: list[str],
    batch_size: int | None,
) -> Iterator[None]:
    env = {
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "MEDIA_BUCKET": BUCKET,
        "INSTAGRAM_USER_IDS": ",".join(user_ids),
        "INSTAGRAM_API_URL": fake.url,
        "INSTAGRAM_SESSIONID": fake.sessionid,
        **FAST_ENV,
        **emulators.env(),
    }
    if batch_size is not None:
        env["INSTAGRAM_BATCH_SIZE"] = str(batch_size)
    with instapipe_env(env):
        yield
