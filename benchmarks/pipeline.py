"""End-to-end latency: from a story appearing on Instagram to it being archived and
posted, through the whole local stack (functions-framework, push subscriptions).

A story's latency is the tick's wait (up to one scheduler interval) plus the pipeline's
own time, measured here from the tick that sees it. The baseline is the scheduler's
default interval, which bounds how long a story can wait before any tick sees it.
"""

from __future__ import annotations

import statistics
import time

from benchmarks import Figure, instapipe_env
from stack.emulators import Emulators
from stack.pipeline import LocalPipeline
from tests.conftest import BASE_ENV, TEST_PROJECT
from tests.pipeline_support import (
    World,
    delivered,
    start_pipeline,
    start_world,
    wait_for,
)

USER_IDS = [str(7_000_000_000 + n) for n in range(10)]
REPEATS = 5
# Cloud Scheduler's default schedule in Terraform: every 5 minutes.
TICK_INTERVAL_S = 300.0


def run() -> list[Figure]:
    emulators = Emulators(TEST_PROJECT)
    emulators.start()
    try:
        with instapipe_env({**BASE_ENV, **emulators.env()}):
            world_running = start_world(USER_IDS)
            world = next(world_running)
            pipeline_running = start_pipeline(emulators, world)
            pipeline = next(pipeline_running)
            one = statistics.median(
                [_latency(world, pipeline, [user_id]) for user_id in USER_IDS[:REPEATS]]
            )
            burst = _latency(world, pipeline, USER_IDS)
            pipeline_running.close()
            world_running.close()
    finally:
        emulators.stop()
    return [
        Figure(
            "one story: tick to archived and posted",
            one,
            "s",
            "scheduler interval",
            TICK_INTERVAL_S,
        ),
        Figure(
            f"{len(USER_IDS)} stories at once: tick to all done",
            burst,
            "s",
            "scheduler interval",
            TICK_INTERVAL_S,
        ),
    ]


def _latency(world: World, pipeline: LocalPipeline, user_ids: list[str]) -> float:
    posted = [(user_id, world.post(user_id)) for user_id in user_ids]
    started = time.monotonic()
    pipeline.tick().raise_for_status()
    wait_for(
        "the stories to be archived and posted",
        lambda: all(delivered(world, u, s) for u, s in posted),
    )
    return time.monotonic() - started
