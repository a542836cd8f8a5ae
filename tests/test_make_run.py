"""`make run` as a user meets it: the sample account's stories reach stories.json and
the viewer, and Ctrl-C leaves nothing listening behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from stack import sample
from stack.pipeline import ROOT
from tests.pipeline_support import wait_for

_ADDRESS = re.compile(r"127\.0\.0\.1:(\d+)")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.timeout(240)
def test_make_run_serves_the_sample_account_and_stops_cleanly() -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("INSTAGRAM_", "TELEGRAM_", "GOOGLE_", "MEDIA_"))
        and not name.endswith("_EMULATOR_HOST")
    }
    env.update(LOCAL_TICK_S="1", PYTHONPATH=f"{ROOT / 'functions'}:{ROOT}")
    runner = subprocess.Popen(
        [sys.executable, "-m", "stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert runner.stdout is not None
        for line in runner.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        output = "".join(lines)
        [stories_url] = re.findall(r"stories\.json: (\S+)", output)
        [viewer_url] = re.findall(r"viewer: (\S+)", output)

        def every_sample_story() -> list[dict[str, object]] | None:
            stories = requests.get(stories_url, timeout=10).json()
            return stories if len(stories) == len(sample.STORIES) else None

        stories = wait_for("the whole sample account", every_sample_story, 120)
        page = requests.get(viewer_url, timeout=10).text
        first_media = requests.get(str(stories[0]["signed_url"]), timeout=10).content
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(60)
    ports = {int(port) for port in _ADDRESS.findall("".join(lines))}
    time.sleep(0.5)

    assert [s["username"] for s in stories] == [sample.SAMPLE_USERNAME] * 4
    assert sum(bool(s["is_video"]) for s in stories) == 1
    assert first_media == sample.path(sample.STORIES[0]).read_bytes()
    assert f'src="{stories_url}"' in page
    assert runner.returncode == 0
    assert len(ports) == 8  # three emulators, four functions, the viewer
    assert [port for port in ports if listening(port)] == []
