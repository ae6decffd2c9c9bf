"""Workers' logs on an object-store run reach the store (issue 31 item 12): each live Ray node uploads the
worker logs on its own disk to ``<run>/logs/<host>/workers/`` (a real S3 API: moto; a private local Ray)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")
pytestmark = pytest.mark.slow  # a private Ray session in a subprocess: ~20 s alone, more under load

from limo_rl.run.objectstore import filesystem  # noqa: E402
from tests.integration.s3_server import moto_server, new_bucket, s3_env  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
from pathlib import Path
import ray
from limo_rl.console.progress import LOG_DIR_ENV
from limo_rl.runtime.worker_logs import node_log_name, upload_worker_logs

store, logs = sys.argv[1], Path(sys.argv[2])
import os
os.environ[LOG_DIR_ENV] = str(logs)
assert upload_worker_logs(store) == 0  # no Ray yet: nothing to ask, and no error
ray.init(num_cpus=1, include_dashboard=False)

@ray.remote
def worker():  # a worker writes its output where limo_rl.runtime.worker_logs sends it, on its own node
    folder = Path(os.environ[LOG_DIR_ENV]) / "workers"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "generate-actor-123.log").write_text("vLLM says: out of memory\\n")
    return node_log_name()

print(ray.get(worker.remote()))
print(upload_worker_logs(store))
print(upload_worker_logs(store))  # unchanged files are not sent again
ray.shutdown()
"""


def test_worker_logs_of_every_node_reach_the_store(tmp_path, monkeypatch):
    with moto_server() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        store = f"s3://{new_bucket(endpoint)}/runs/r"
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(s3_env(endpoint), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO),
                   RAY_TMPDIR=tempfile.mkdtemp(prefix="lrw-", dir="/tmp"))
        res = subprocess.run([sys.executable, "-c", SCRIPT, store, str(tmp_path / "logs")], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-3000:]
        node, first, again = res.stdout.split()[-3:]
        assert (first, again) == ("1", "0")
        fs, root = filesystem(store)
        assert fs.cat_file(f"{root}/logs/{node}/workers/generate-actor-123.log") == b"vLLM says: out of memory\n"
