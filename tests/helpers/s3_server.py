"""A real S3-API server on the loopback address for tests and benchmarks: moto's server mode.

``s3_server()`` starts ``moto.server`` in a subprocess on 127.0.0.1 and a free port, sets fake
credentials and ``AWS_ENDPOINT_URL`` in this process's environment (workers inherit them),
creates a bucket, yields ``s3://<bucket>``, then stops the server and restores the environment.
Nothing leaves the machine.
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


@contextlib.contextmanager
def s3_server(bucket: str = BUCKET) -> Iterator[str]:
    """``s3://bucket`` on a fresh moto server; the server stops when the block ends."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    saved = {k: os.environ.get(k) for k in [*FAKE_ENV, "AWS_ENDPOINT_URL", "AWS_PROFILE"]}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on {endpoint}")
                time.sleep(0.1)
        os.environ.update(FAKE_ENV)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        os.environ.pop("AWS_PROFILE", None)
        import fsspec

        fsspec.filesystem("s3").clear_instance_cache()
        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        fs.mkdir(bucket)
        yield f"s3://{bucket}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
