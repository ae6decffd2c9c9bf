"""A real S3-compatible server (moto in server mode) on 127.0.0.1 for the object-store tests.

Clients are configured only through the standard AWS environment (:func:`s3_env`), as a user's would be.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

from tests.integration.ray_head import VENV_BIN, free_port


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start ``moto_server`` on a free port; yields its endpoint URL; stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert proc.poll() is None and time.monotonic() < deadline, "moto_server did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def s3_env(endpoint: str) -> dict[str, str]:
    """The standard variables that point boto/s3fs at ``endpoint`` (test credentials)."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1"}


def new_bucket(endpoint: str) -> str:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    bucket = f"b{time.monotonic_ns()}"
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}).mkdir(bucket)
    return bucket
