"""A real S3-API server on the loopback address for tests and benchmarks: moto's server mode.

``s3_server()`` starts ``moto.server`` in a subprocess on 127.0.0.1 and a free port, sets fake
credentials and ``AWS_ENDPOINT_URL`` in this process's environment (workers inherit them),
creates a bucket, yields ``s3://<bucket>``, then stops the server and restores the environment.
Nothing leaves the machine.

``moto_server()`` is the same with the server in hand (:class:`MotoServer`), for fault tests:
:meth:`MotoServer.kill` stops it at once (SIGKILL: open connections drop, new ones are refused)
and :meth:`MotoServer.restart` starts a fresh one on the same port. moto keeps its objects in
memory, so the fresh server is empty unless ``keep_data``: then it replays every request the
earlier servers recorded (moto's recorder, on with ``record=True``), as a real store keeps what
it had acknowledged — a request the killed server had read whole but not yet answered is
replayed too, as a PUT that reached the store just before a crash.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Iterator

BUCKET = "midtrain-test"
FAKE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """One moto server process on a fixed loopback port, with a bucket; killable and restartable."""

    def __init__(self, bucket: str = BUCKET, port: int | None = None, *, record: str | None = None) -> None:
        self.bucket = bucket
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.url = f"s3://{bucket}"
        self.record = record
        """File where the server records every request (for :meth:`restart` with ``keep_data``); None: off."""
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server (on this port) and wait until it answers."""
        env = dict(os.environ)
        if self.record:
            env.update(MOTO_ENABLE_RECORDING="True", MOTO_RECORDER_FILEPATH=self.record)
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server did not start on {self.endpoint}")
                time.sleep(0.1)

    def create_bucket(self) -> None:
        import fsspec

        fsspec.filesystem("s3").clear_instance_cache()
        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        fs.mkdir(self.bucket)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Stop the server at once (SIGKILL); its objects are gone with it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, *, keep_data: bool = False) -> None:
        """A fresh server on the same port (so ``AWS_ENDPOINT_URL`` still points at it): empty but for the
        bucket, or with ``keep_data`` (needs ``record``) holding what the earlier servers had received."""
        self.kill()
        self.start()
        if keep_data:
            if not self.record:
                raise ValueError("restart(keep_data=True) needs a server started with record=...")
            request = urllib.request.Request(self.endpoint + "/moto-api/recorder/replay-recording", method="POST")
            urllib.request.urlopen(request, timeout=120).read()
        import fsspec

        fsspec.filesystem("s3").clear_instance_cache()  # no pooled connection to the killed server survives
        if not keep_data:
            self.create_bucket()

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def moto_server(bucket: str = BUCKET, *, record: str | None = None) -> Iterator[MotoServer]:
    """A started :class:`MotoServer` with ``bucket`` created and this process's environment pointing at it;
    ``record``: a file where it records every request (see :meth:`MotoServer.restart`)."""
    server = MotoServer(bucket, record=record)
    saved = {k: os.environ.get(k) for k in [*FAKE_ENV, "AWS_ENDPOINT_URL", "AWS_PROFILE"]}
    try:
        server.start()
        os.environ.update(FAKE_ENV)
        os.environ["AWS_ENDPOINT_URL"] = server.endpoint
        os.environ.pop("AWS_PROFILE", None)
        server.create_bucket()
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def s3_server(bucket: str = BUCKET) -> Iterator[str]:
    """``s3://bucket`` on a fresh moto server; the server stops when the block ends."""
    with moto_server(bucket) as server:
        yield server.url
