"""Training into an object-store run (issue 20): rank 0 uploads each complete checkpoint (its marker last),
the student and the metrics; a SIGKILLed training resumes on a *fresh* working copy from the newest
complete checkpoint in the store. The store is a real S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("s3fs")

from limo_rl.run.objectstore import filesystem  # noqa: E402
from limo_rl.train.checkpoints import COMPLETE_MARKER, checkpoint_step  # noqa: E402
from tests.integration.s3_server import moto_server, new_bucket, s3_env  # noqa: E402
from tests.integration.test_train_ray import sum_examples  # noqa: E402

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

TRAIN = """
import sys
from pathlib import Path
from limo_rl.run.artifacts import read_jsonl
from limo_rl.config import TrainConfig
from limo_rl.resolve import resolve_model
from limo_rl.train import run_training
from limo_rl.types import SFTExample

data, model, out, store = sys.argv[1:5]
cfg = TrainConfig(num_workers=1, epochs=3, per_device_batch_size=4, validation_split=0, max_length=128,
                  logging_steps=5)
if __name__ == "__main__":
    run_training([SFTExample.from_dict(r) for r in read_jsonl(data)], resolve_model(model), cfg, Path(out),
                 store_uri=store)
"""


def test_sigkilled_training_resumes_from_the_store_on_a_fresh_working_copy(tiny_model_dir, tmp_path, monkeypatch):
    n, spe = 160, 40
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in sum_examples(n)))
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    with moto_server() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        store = f"s3://{new_bucket(endpoint)}/runs/r/seed0/loop/round1/train"
        fs, root = filesystem(store)
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), RAY_TMPDIR=tempfile.mkdtemp(prefix="lrs-", dir="/tmp"))

        def complete_in_store() -> list[int]:
            fs.invalidate_cache()
            found = fs.glob(f"{root}/checkpoints/checkpoint-*/{COMPLETE_MARKER}")
            return sorted(checkpoint_step(Path(k).parent) for k in found)

        first = tmp_path / "machine1"
        proc = subprocess.Popen([sys.executable, str(script), str(data), str(tiny_model_dir), str(first), store],
                                cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 300
            while not complete_in_store():
                assert proc.poll() is None, f"training exited early: {proc.stderr.read()[-3000:]}"
                assert time.time() < deadline, "no checkpoint in the store within 300 s"
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stored = complete_in_store()
        assert stored[-1] < 3 * spe and not fs.exists(f"{root}/model/config.json")

        second = tmp_path / "machine2"  # a fresh working copy: only the store knows the checkpoints
        res = subprocess.run([sys.executable, str(script), str(data), str(tiny_model_dir), str(second), store],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        fs.invalidate_cache()
        metrics = json.loads(fs.cat_file(f"{root}/train_metrics.json"))
        assert metrics["resumed_step"] >= stored[-1] > 0
        assert metrics["resumed_from"] == str(second / "checkpoints" / f"checkpoint-{metrics['resumed_step']}")
        assert metrics["global_step"] == 3 * spe
        assert fs.exists(f"{root}/model/config.json") and fs.exists(f"{root}/model/model.safetensors")
        # the driver brought the worker's results back into its working copy
        assert json.loads((second / "train_metrics.json").read_text()) == metrics
        assert complete_in_store()[-1] == 3 * spe
        assert complete_in_store() == [2 * spe, 3 * spe]  # rotated in the store as on disk (save_total_limit 2)
