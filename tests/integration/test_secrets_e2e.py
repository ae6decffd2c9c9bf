"""Issue 15 case 5: an API key never reaches disk.

``limo-rl generate`` with the openai engine against local fake servers (the boundary of
test_generate_openai.py): one checks the bearer token and answers, so the run proves the key reached
the Ray actors; one answers 401 with a body that echoes the request's Authorization header, as some
gateways do. Then Ray's session folder (runtime_env_agent.log and every other log), the run folder,
the W&B folder and the command's own output are searched for the key.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.integration.test_generate_openai import _ok, _Server
from tests.integration.tiny_recipe import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _files_containing(folder: Path, needle: bytes) -> list[str]:
    hits = []
    for f in folder.rglob("*"):
        try:
            if f.is_file() and not f.is_symlink() and needle in f.read_bytes():
                hits.append(str(f))
        except OSError:
            continue
    return hits


def test_openai_key_is_on_no_disk(tmp_path):
    key = f"sk-limo-marker-{secrets.token_hex(12)}"

    seen: list[str | None] = []

    def answer(path, body):
        return (200, _ok("So the answer is \\boxed{2}.", 8), None)

    def echo_401(path, body):
        return (401, {"error": {"message": "invalid key", "request": {"headers": {"Authorization": seen[-1]}}}}, None)

    ray_tmp = Path(tempfile.mkdtemp(prefix="lrs-", dir="/tmp"))
    wandb_dir = tmp_path / "wandb"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update({"OPENAI_API_KEY": key, "RAY_TMPDIR": str(ray_tmp), "WANDB_DIR": str(wandb_dir),
                "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "RAY_raylet_start_wait_time_s": "120"})
    outputs = []
    for name, respond in (("ok", answer), ("refused", echo_401)):
        with _Server(respond) as server:
            orig = server.httpd.RequestHandlerClass.do_POST

            def do_post(handler, _orig=orig):
                seen.append(handler.headers.get("Authorization"))  # checked below: the key reached the actor
                return _orig(handler)

            server.httpd.RequestHandlerClass.do_POST = do_post
            args = ["recipes/quickstart.yaml", f"run.output_dir={tmp_path / 'runs'}", f"run.name={name}",
                    *TINY_OVERRIDES, "pool.toy.n=4", "generate.n=1", "generate.engine=openai",
                    "generate.model=served-teacher", f"generate.openai.base_url={server.base_url}",
                    "generate.openai.max_retries=0", "generate.max_shard_retries=0",
                    "tracking.backend=wandb", "tracking.mode=offline"]
            res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "-q", "generate", *args], cwd=REPO,
                                 env=env, capture_output=True, text=True, timeout=900)
        outputs.append(res.stdout + res.stderr)
        if name == "ok":
            assert res.returncode == 0, res.stderr[-3000:]
        else:
            assert res.returncode != 0
            assert "401" in (tmp_path / "runs" / name / "manifest.json").read_text()
    assert seen and all(s == f"Bearer {key}" for s in seen)
    needle = key.encode()
    assert not [o for o in outputs if key in o]
    assert not _files_containing(ray_tmp, needle), "the key is in Ray's session files"
    assert not _files_containing(tmp_path / "runs", needle), "the key is in the run folder"
    assert not _files_containing(wandb_dir, needle), "the key is in the W&B files"
    assert list(ray_tmp.rglob("runtime_env_agent.log")), "Ray wrote no runtime env log: the check looked nowhere"
