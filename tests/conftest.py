"""Shared test set-up: one thread per op, W&B offline in a temp dir, a private Ray cluster.

On these 2-core machines oversubscribed threads make torch ~11x slower, so every test
runs with OMP_NUM_THREADS=1. Ray tests share one private local cluster (its own temp dir,
never attached to another cluster, and never stopped with a bare `ray stop`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
os.environ.pop("RAY_ADDRESS", None)
_WANDB_TMP = tempfile.mkdtemp(prefix="limo-wandb-")
os.environ["WANDB_DIR"] = _WANDB_TMP
os.environ["WANDB_CACHE_DIR"] = os.path.join(_WANDB_TMP, "cache")
os.environ["WANDB_CONFIG_DIR"] = os.path.join(_WANDB_TMP, "config")
# Ray puts unix sockets under its temp dir: keep the path short (AF_UNIX limit ~107 chars).
_RAY_TMP = tempfile.mkdtemp(prefix="lr-ray-", dir="/tmp")
os.environ["RAY_TMPDIR"] = _RAY_TMP
# The file-hash cache (limo_rl.run.hashing) of the tests stays out of the user's ~/.cache.
os.environ["LIMO_RL_CACHE_DIR"] = tempfile.mkdtemp(prefix="limo-hash-cache-")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


_TRAIL = os.environ.get("LIMO_RL_TEST_TRAIL")  # set by .ci/run: names the test a dying pytest was in


def pytest_runtest_logstart(nodeid, location):
    if _TRAIL:  # a crash of the whole process (a native abort, a SIGKILL) prints no summary
        Path(_TRAIL).write_text(f"{nodeid}\n{_RAY_TMP}\n")  # the test, then where this session's Ray logs are


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-init tiny Qwen2 + tokenizer in HF format, built once per session."""
    from limo_rl.toy.model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")


@pytest.fixture(scope="session")
def ray_cluster():
    """A private local Ray cluster (2 CPUs) for the whole session; shut down only by us."""
    import ray

    from limo_rl.runtime.raysession import worker_env

    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _temp_dir=_RAY_TMP,
            log_to_driver=False,
            runtime_env={"env_vars": worker_env()},  # the product's policy: 1 thread, niceness 0
        )
    yield ray
    ray.shutdown()


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_WANDB_TMP, ignore_errors=True)
