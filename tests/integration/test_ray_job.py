"""A real `ray job submit` of the quickstart recipe to a private local cluster (issue 10)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.ray_head import VENV_BIN, private_ray_head, session_pids
from tests.integration.tiny_recipe import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ray_job_submit_quickstart_succeeds(tmp_path):
    out = tmp_path / "runs"
    with private_ray_head(log_path=tmp_path / "head.log") as head:
        address, env = head.address, head.env
        cmd = [
            str(VENV_BIN / "ray"), "job", "submit", "--address", address, "--working-dir", str(REPO),
            "--runtime-env", str(REPO / "ray_cluster" / "runtime_env.yaml"), "--",
            "limo-rl", "run", "recipes/quickstart.yaml", f"run.output_dir={out}", "loop.baselines=false",
            *TINY_OVERRIDES,
        ]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)
        log = res.stdout + res.stderr
        assert res.returncode == 0, log[-4000:]
        job_id = next(w.strip("'") for line in log.splitlines() if "Job '" in line for w in line.split() if
                      w.startswith("'raysubmit_"))
        probe = ("import sys; from ray.job_submission import JobSubmissionClient; "
                 "print(JobSubmissionClient(sys.argv[1]).get_job_status(sys.argv[2]).value)")
        status = subprocess.run([str(VENV_BIN / "python"), "-c", probe, address, job_id],
                                env=env, capture_output=True, text=True, timeout=120)
        assert status.stdout.strip() == "SUCCEEDED", status.stdout + status.stderr
        # without the token the cluster refuses the client
        no_token = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN"}
        no_token["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
        denied = subprocess.run([str(VENV_BIN / "ray"), "job", "list", "--address", address], env=no_token,
                                capture_output=True, text=True, timeout=120)
        assert denied.returncode != 0 and "token" in (denied.stdout + denied.stderr).lower()
    run = out / "quickstart"
    assert (run / "report.md").is_file() and (run / "report.png").is_file()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert all(st["status"] in ("done", "skipped") for st in manifest["stages"].values())
    assert "loop/toy_eval/pass@1" in manifest["headline"]
    assert session_pids(head.sid) == []  # every process of the cluster we started is gone
