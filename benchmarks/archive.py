"""archive: the memory a 300 MB video takes to archive, beside what a photo takes.

Each archive runs the real path (`archiving.archive`: CDN download, content checks,
dimension reading, resumable upload, signed URL, Firestore document) in a fresh child
process, against the Firestore emulator, fake-gcs-server and the CDN stand-in, which
serves a generated body from this process so its buffers are not counted.

The figure is the child's peak resident set size (VmHWM), not tracemalloc:
tracemalloc sees only allocations made through Python's allocator, while the limit a
Cloud Function hits is the process's memory, buffers of C extensions (crc32c, gRPC,
OpenSSL) and the interpreter included. A fresh child per case keeps one case's peak
from hiding another's.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import Figure

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "instapipe-bench"
BUCKET = "instapipe-bench-media"
USER_ID = "1111111111"
VIDEO_BYTES = 300 * 1024 * 1024
MIB = 1024 * 1024


def run() -> list[Figure]:
    from stack.emulators import FirestoreEmulator, StorageEmulator, http
    from stack.fakes.cdn import FakeCdn, Media
    from tests import archive_support as files

    emulators = [FirestoreEmulator(), StorageEmulator()]
    cdn = FakeCdn().start()
    try:
        for emulator in emulators:
            emulator.start()
        for emulator in emulators:
            emulator.wait_ready()
        env = _child_env(emulators)
        storage_url = env["STORAGE_EMULATOR_HOST"]
        http("POST", f"{storage_url}/storage/v1/b?project={PROJECT}", {"name": BUCKET})

        photo = files.noisy_jpeg(1080, 1920)
        photo_url = cdn.add("/photo.jpg", Media("image/jpeg", body=photo))
        video_url = cdn.add(
            "/video.mp4",
            Media(
                "video/mp4",
                size_bytes=VIDEO_BYTES,
                head=files.mp4_head(1080, 1920, VIDEO_BYTES),
            ),
        )
        idle = _child(env, {"mode": "idle"})
        photo_run = _child(env, {"mode": "archive", "story": _story("1", photo_url)})
        video_run = _child(env, {"mode": "archive", "story": _story("2", video_url)})
        upload = _child(env, {"mode": "upload"})
    finally:
        cdn.stop()
        for emulator in emulators:
            emulator.stop()

    video_rss = video_run["peak_rss_bytes"] / MIB
    photo_size = f"{len(photo) / 1024:.0f} KiB"
    return [
        Figure(
            "archive 300 MiB video: peak RSS",
            video_rss,
            "MiB",
            f"archive {photo_size} photo: peak RSS",
            photo_run["peak_rss_bytes"] / MIB,
        ),
        Figure(
            "archive 300 MiB video: peak RSS",
            video_rss,
            "MiB",
            "the video file's size",
            VIDEO_BYTES / MIB,
        ),
        Figure(
            "archive 300 MiB video: peak RSS",
            video_rss,
            "MiB",
            "same child importing the code only: peak RSS",
            idle["peak_rss_bytes"] / MIB,
        ),
        # fake-gcs-server's resumable uploads slow down with every chunk, so the time
        # is read against an upload of as many bytes without the download.
        Figure(
            "archive 300 MiB video: time",
            video_run["elapsed_s"],
            "s",
            "upload 300 MiB of zeros to the emulator, same chunks: time",
            upload["elapsed_s"],
        ),
    ]


def _child_env(emulators: list[object]) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("INSTAGRAM_", "TELEGRAM_", "MEDIA_", "SIGNED_"))
    }
    for emulator in emulators:
        env.update(emulator.env())  # type: ignore[attr-defined]
    env.update(
        GOOGLE_CLOUD_PROJECT=PROJECT,
        INSTAGRAM_USER_IDS=USER_ID,
        MEDIA_BUCKET=BUCKET,
        PYTHONPATH=os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
    )
    return env


def _story(story_id: str, url: str) -> dict[str, object]:
    now = int(time.time())
    return {
        "id": f"33000000000000000{story_id}",
        "user_id": USER_ID,
        "username": "bench",
        "timestamp": now,
        "expires_at": now + 86400,
        "is_video": url.endswith(".mp4"),
        "media_url": url,
        "source": "private",
    }


def _child(env: dict[str, str], task: dict[str, object]) -> dict[str, float]:
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks.archive"],
        input=json.dumps(task),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{finished.stderr[-3000:]}")
    result: dict[str, float] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def _in_child(task: dict[str, object]) -> dict[str, float]:
    """Runs one task in this (child) process; reports its peak RSS and time."""
    from instapipe import archiving, clients, logs
    from instapipe.story import from_fields

    logs.configure(stream=sys.stderr)
    started = time.monotonic()
    if task["mode"] == "archive":
        archiving.archive(from_fields(task["story"]))  # type: ignore[arg-type]
    elif task["mode"] == "upload":
        blob = (
            clients.storage_client()
            .bucket(BUCKET)
            .blob("baseline", chunk_size=archiving.UPLOAD_CHUNK_BYTES)
        )
        blob.upload_from_file(_Zeros(VIDEO_BYTES), size=VIDEO_BYTES)
    elapsed_s = time.monotonic() - started
    return {"peak_rss_bytes": _peak_rss_bytes(), "elapsed_s": elapsed_s}


def _peak_rss_bytes() -> int:
    """This process's peak resident set since its exec.

    Not `ru_maxrss`: Linux carries it over `execve`, so a child forked from a large
    parent would report the parent's size. VmHWM belongs to the new address space.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


class _Zeros(io.RawIOBase):
    """`size` zero bytes, read as a stream that never holds them all."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        size = self._size - self._position if size < 0 else size
        size = min(size, self._size - self._position)
        self._position += size
        return bytes(size)


if __name__ == "__main__":
    print(json.dumps(_in_child(json.loads(sys.stdin.read()))))
