"""stories_json under concurrent load: a warm functions-framework instance against the
emulators, beside the very same JSON bytes served as a static file by Python's
http.server in the same run.

Every request opens a new connection (as distinct page views do), for both servers.
A third server with a memory cache of a millisecond shows what the cache saves: there,
every request is a Firestore query.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks import Figure, instapipe_env
from instapipe import clients, signing, store
from instapipe.store import ArchivedStory
from instapipe.story import Story
from stack.emulators import HOST, Emulators, free_port
from stack.pipeline import serving

PROJECT = "instapipe-bench"
BUCKET = "instapipe-bench-media"
USER_ID = "1111111111"
STORIES = 12
CLIENTS = 16
DURATION_S = 5.0
WARMUP_REQUESTS = 20
READY_TIMEOUT_S = 30.0
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Load:
    """What one load run measured."""

    requests: int
    duration_s: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.duration_s

    def percentile_ms(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run() -> list[Figure]:
    emulators = Emulators(PROJECT)
    emulators.start()
    try:
        env = {
            **emulators.env(),
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "INSTAGRAM_USER_IDS": USER_ID,
            "MEDIA_BUCKET": BUCKET,
        }
        _seed(env)
        return _measure(env)
    finally:
        emulators.stop()


def _measure(env: dict[str, str]) -> list[Figure]:
    path = f"/?user_id={USER_ID}"
    with _functions_framework(env) as port:
        body = _warm_up(port, path)
        warm = _load(port, path)
    with _static_file(body) as port:
        _warm_up(port, "/stories.json")
        static = _load(port, "/stories.json")
    with _functions_framework({**env, "API_CACHE_S": "0.001"}) as port:
        _warm_up(port, path)
        uncached = _load(port, path)
    label = f"{CLIENTS} clients"
    static_name = "same JSON, static file (http.server)"
    return [
        Figure(
            f"stories_json warm, {label}: throughput",
            warm.per_second,
            "req/s",
            static_name,
            static.per_second,
        ),
        Figure(
            "stories_json warm: p50 latency",
            warm.percentile_ms(0.5),
            "ms",
            static_name,
            static.percentile_ms(0.5),
        ),
        Figure(
            "stories_json warm: p99 latency",
            warm.percentile_ms(0.99),
            "ms",
            static_name,
            static.percentile_ms(0.99),
        ),
        Figure(
            "stories_json, memory cache off: throughput",
            uncached.per_second,
            "req/s",
            "stories_json warm (memory cache on)",
            warm.per_second,
        ),
        Figure(
            "stories_json, memory cache off: p50 latency",
            uncached.percentile_ms(0.5),
            "ms",
            "stories_json warm (memory cache on)",
            warm.percentile_ms(0.5),
        ),
    ]


def _seed(env: Mapping[str, str]) -> None:
    """Archives STORIES stories of the last hours, as the archive function would."""
    with instapipe_env(env):
        bucket = clients.storage_client().create_bucket(BUCKET)
        now = int(time.time())
        for n in range(STORIES):
            story_id = f"33000000000000{n:05d}"
            object_name = f"{USER_ID}/{story_id}.jpg"
            bucket.blob(object_name).upload_from_string(b"\xff\xd8" + b"x" * 1024)
            signed = signing.sign(object_name)
            posted = now - (STORIES - n) * 600
            story = Story(
                id=story_id,
                user_id=USER_ID,
                username="bench.account",
                timestamp=posted,
                expires_at=posted + 86400,
                is_video=False,
                media_url=f"https://scontent.cdninstagram.com/{story_id}.jpg",
                source="private",
                width=1080,
                height=1920,
                permalink=f"https://www.instagram.com/stories/bench.account/{story_id}/",
            )
            archived = ArchivedStory(
                story=story,
                bucket_path=f"gs://{BUCKET}/{object_name}",
                object_name=object_name,
                content_type="image/jpeg",
                size_bytes=1026,
                archived_at=posted + 30,
                signed_url=signed.url,
                signed_url_expires_at=signed.expires_at,
            )
            store.story_ref(USER_ID, story_id).set(archived.to_document())


@contextmanager
def _functions_framework(env: Mapping[str, str]) -> Iterator[int]:
    with serving("stories_json", {**os.environ, **env}) as server:
        yield server.port


@contextmanager
def _static_file(body: bytes) -> Iterator[int]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="instapipe-bench-") as directory:
        Path(directory, "stories.json").write_bytes(body)
        command = [
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            HOST,
            "--directory",
            directory,
            str(port),
        ]
        with _process(command, dict(os.environ), port):
            yield port


@contextmanager
def _process(command: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for(port, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing served on port {port} in time")


def _get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {body[:200]!r}")
        return body
    finally:
        connection.close()


def _warm_up(port: int, path: str) -> bytes:
    bodies = {_get(port, path) for _ in range(WARMUP_REQUESTS)}
    if len(bodies) != 1:
        raise RuntimeError("the answer changed during warm-up")
    return bodies.pop()


def _load(port: int, path: str) -> Load:
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    started = time.perf_counter()
    deadline = started + DURATION_S

    errors: list[Exception] = []

    def client(mine: list[float]) -> None:
        while time.perf_counter() < deadline:
            begun = time.perf_counter()
            try:
                _get(port, path)
            except (OSError, RuntimeError) as error:
                errors.append(error)
                return
            mine.append((time.perf_counter() - begun) * 1000)

    threads = [threading.Thread(target=client, args=(m,)) for m in latencies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    merged = [latency for mine in latencies for latency in mine]
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    if not merged:
        raise RuntimeError(f"no request to port {port} finished")
    return Load(requests=len(merged), duration_s=elapsed, latencies_ms=merged)
