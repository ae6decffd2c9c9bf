"""What a user sees and shares after `limo-rl run` (issue 19), on the test-sized quickstart.

One real run through the CLI with stdout and stderr captured (not a terminal, so plain lines):
the console stays short (one line per stage, the result table, the report paths; no bytecode,
no worker or per-step lines, no W&B summary), the run leaves Hub-ready cards beside its SFT set
and each student, and its offline W&B run holds a per-step curve for every training under its
own name, the chains table and the artifacts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from limo_rl.hub.cards import PARQUET, read_card
from tests.integration.test_loop_e2e import REPO, cli_env
from tests.integration.tiny_recipe import TINY_OVERRIDES
from tests.wandb_files import artifacts, history, run_file, summary_keys

pytestmark = pytest.mark.slow
MAX_LINES = 48  # the full quickstart has the same stages: ~35 lines with the verdict table; the bound is ~150
BYTECODE = re.compile(r"^\s*(\d+\s+)?\d+\s+[A-Z][A-Z_]{3,}\b|LOAD_FAST|RETURN_VALUE|LOAD_CONST")
NOISE = ("pid=", "RayTrainWorker", "ShardWorker", "Failed to query Ray Train Controller", "wandb:",
         "{'loss'", "Loading weights", "it/s]", "Token authentication")


def test_quiet_console_cards_and_wandb_curves(tmp_path):
    env = cli_env()
    env.update({"WANDB_MODE": "offline", "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache")})
    env.pop("WANDB_DIR", None)
    args = ["recipes/quickstart.yaml", f"run.output_dir={tmp_path}", "run.name=c", *TINY_OVERRIDES,
            "tracking.backend=wandb", "train.logging_steps=1", "train.per_device_batch_size=2"]
    res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "run", *args], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=1800)
    shown = (res.stdout + res.stderr).splitlines()
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "c"

    # ---- the console
    assert len(shown) <= MAX_LINES, "\n".join(shown)
    for line in shown:
        assert not BYTECODE.search(line), line
        assert not any(n in line for n in NOISE), line
    err = res.stderr.splitlines()
    for stage in ("pool", "generate", "verify", "select", "data", "train", "evaluate"):
        assert any(line.startswith(f"✓ {stage}") for line in err), (stage, err)
    assert sum(line.startswith("✓ train") for line in err) == 2
    assert any("loop · round 1 · seed 0" in line for line in err)
    out = res.stdout.strip().splitlines()
    assert out[-2] == f"report.md   {run / 'report.md'}" and out[-1] == f"report.png  {run / 'report.png'}"
    assert any(line.startswith("loop ") and "toy_eval" in line for line in out)  # the accuracy table
    # the verdict table after it (the same rows report.json holds), then where the W&B run is
    comparisons = json.loads((run / "report.json").read_text())["comparisons"]
    header = next(i for i, line in enumerate(out) if line.startswith("A ") and "verdict" in line)
    assert header > next(i for i, line in enumerate(out) if line.startswith("loop "))
    for c in comparisons:
        assert any(line.split()[:2] == [c["a"], c["b"]] and line.endswith(c["verdict"]) for line in out), c
    wandb_dir = json.loads((run / "wandb-run.json").read_text())["dir"]
    assert out[-3].startswith("W&B ") and wandb_dir in out[-3]
    assert (run / "logs" / "limo_rl.log").is_file()
    assert list((run / "logs" / "workers").glob("train-rank0-*.log"))

    # ---- Hub-ready outputs
    sel = run / "seed0" / "loop" / "round1" / "select"
    meta, _ = read_card(sel / "README.md")
    n_sft = len((sel / "sft.jsonl").read_text().splitlines())
    assert (sel / PARQUET).is_file() and meta["limo_rl"]["counts"]["examples"] == n_sft
    assert meta["limo_rl"]["teacher"] == "toy://teacher" and meta["limo_rl"]["grader"]["version"]
    for arm in ("loop/round1", "static"):
        card, _ = read_card(run / "seed0" / arm / "train" / "model" / "README.md")
        assert card["limo_rl"]["base_model"] == "toy://base"
        assert card["model-index"][0]["results"][0]["dataset"]["name"] == "toy_eval"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["seed0/loop/round1/train"]["status"] == "done"

    # ---- W&B: a per-step curve for every training, under its own name; the chains table; artifacts
    f = run_file(run)
    rows = history(f)
    for scope in ("loop/round1/seed0", "static/seed0"):
        steps = json.loads((run / "seed0" / scope.rsplit("/", 1)[0] / "train" /
                            "train_metrics.json").read_text())["global_step"]
        curve = [h[f"train/{scope}/step"] for h in rows if f"train/{scope}/loss" in h]
        assert curve == list(range(1, steps + 1)), (scope, curve, steps)
    assert not any("train/loss" in h for h in rows)
    for table in ("chains/loop/round1/seed0/sample", "report/accuracy", "report/data"):
        assert any(h.get(f"{table}/_type") == "table-file" for h in rows), table
    kinds = dict((t, n) for n, t in artifacts(f))
    assert {"dataset", "report"} <= set(kinds)
    assert any("verify/loop/round1/seed0/correct_rate" in h for h in rows)
    assert any("select/loop/round1/seed0/selected" in h for h in rows)
    for table in ("report/verdicts", "report/accuracy_by_round/toy_eval_table"):
        assert any(h.get(f"{table}/_type") == "table-file" for h in rows), table
    assert "verdict/static-vs-base/toy_eval/diff" in summary_keys(f)

    # ---- a no-op rerun: no new W&B run, and the console still says where the run is
    before = sorted(p.name for p in run.rglob("offline-run-*") if p.is_dir())
    res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "run", *args], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "nothing to do" in res.stdout, res.stderr[-3000:]
    assert sorted(p.name for p in run.rglob("offline-run-*") if p.is_dir()) == before == [before[0]]
    assert any(line.startswith("W&B ") and wandb_dir in line for line in res.stdout.splitlines())
