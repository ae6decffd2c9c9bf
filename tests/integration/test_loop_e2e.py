"""The quickstart recipe end to end through `limo-rl run` (issue 9).

One run is checked for consistency (every stage done, SFT size within budget, metrics in
[0, 1], both arms in the report, manifest hashes matching the files); a second invocation
must do no work; a run killed with SIGKILL during generation must resume and end with the
same SFT set as the uninterrupted run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from limo_rl.run.artifacts import STAGE_MARKER, hash_path, read_jsonl
from tests.integration.ray_head import kill_session
from tests.integration.tiny_recipe import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="lrl-", dir="/tmp")  # a private cluster per invocation
    env["OMP_NUM_THREADS"] = "1"
    return env


def limo(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "limo_rl.cli", "-q", *args], cwd=REPO, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("loop-runs")


def recipe_args(root: Path, name: str) -> list[str]:
    # run a's two control arms (loop.controls): one built from round 1's chains, one sampled by round 1's teacher
    # on the static set's problems; each trained, evaluated and compared with round 1 (the other runs: one)
    controls = "own_incorrect,static_problems" if name == "a" else "own_incorrect"
    return ["recipes/quickstart.yaml", f"run.output_dir={root}", f"run.name={name}", *TINY_OVERRIDES,
            f"loop.controls=[{controls}]"]


@pytest.fixture(scope="module")
def finished_run(root) -> Path:
    res = limo("run", *recipe_args(root, "a"))
    assert res.returncode == 0, res.stderr[-5000:]
    return root / "a"


def test_artifacts_are_consistent(finished_run):
    run = finished_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    stages = manifest["stages"]
    for key in ("pool", "seed0/loop/round1/generate", "seed0/loop/round1/verify", "seed0/loop/round1/select",
                "seed0/loop/round1/train", "seed0/loop/round1/evaluate", "seed0/static/data", "seed0/static/train",
                "seed0/static/evaluate", "seed0/baselines/base/evaluate", "seed0/control/own_incorrect/data",
                "seed0/control/own_incorrect/train", "seed0/control/own_incorrect/evaluate",
                "seed0/control/static_problems/generate", "seed0/control/static_problems/verify",
                "seed0/control/static_problems/data"):
        assert stages[key]["status"] == "done", key
        marker = json.loads((run / key / STAGE_MARKER).read_text())
        assert marker["input_hash"] == stages[key]["input_hash"]
        for name, digest in stages[key]["outputs"].items():
            assert hash_path(run / key / name) == digest, f"{key}/{name}"
    sft = read_jsonl(run / "seed0/loop/round1/select/sft.jsonl")
    assert 0 < len(sft) <= 817
    assert all(m["role"] for e in sft for m in e["messages"]) and all(e["chain_ref"] for e in sft)
    for metrics_file in run.rglob("metrics.json"):
        doc = json.loads(metrics_file.read_text())
        for bench in doc["benchmarks"].values():
            for name, m in bench["metrics"].items():
                if name != "mean_tokens":
                    assert 0.0 <= m["value"] <= 1.0, (metrics_file, name)
    check_control(run, sft)
    check_static_problems(run, sft)
    report = (run / "report.md").read_text()
    assert "| loop | 1 | toy_eval |" in report and "| static | - | toy_eval |" in report
    assert (run / "report.png").stat().st_size > 1000
    assert {"loop/toy_eval/pass@1", "static/toy_eval/pass@1"} <= set(manifest["headline"])
    check_report_json(run)
    for pkg in ("torch", "transformers", "trl", "ray"):
        assert manifest["packages"][pkg]
    assert (run / "config.yaml").is_file()


def check_control(run: Path, loop_sft: list[dict]) -> None:
    """The control arm trained on the round's incorrect finished chains, as many as the loop's set (within 10%),
    and its verdict against round 1 is in report.json and on the report's verdict table."""
    from limo_rl.data.io import read_problems
    from limo_rl.generate import read_chains
    from limo_rl.toy import toy_correct

    ctl = read_jsonl(run / "seed0/control/own_incorrect/data/sft.jsonl")
    match = json.loads((run / "seed0/control/own_incorrect/match.json").read_text())
    assert match["examples"] == len(ctl) and match["match_target"] == len(loop_sft)
    assert abs(len(ctl) - len(loop_sft)) <= 0.1 * len(loop_sft)
    golds = {p.id: p.answer for p in read_problems(run / "pool/problems.jsonl")}
    chains = {(c.problem_id, c.sample_index): c for c in read_chains(run / "seed0/loop/round1/generate/chains")}
    for e in ctl:
        _, pid, idx = e["chain_ref"].rsplit("/", 2)
        chain = chains[(pid, int(idx))]
        assert chain.text == e["messages"][-1]["content"] and chain.finish_reason == "stop"
        assert not toy_correct(chain.text, golds[pid])
    doc = json.loads((run / "report.json").read_text())
    row = next(a for a in doc["arms"] if a["arm"] == "control/own_incorrect")
    assert row["trained"] and row["examples"] > 0
    assert any(c["a"] == "loop/round1" and c["b"] == "control/own_incorrect" for c in doc["comparisons"])
    assert "| loop/round1 | control/own_incorrect | toy_eval |" in (run / "report.md").read_text()


def check_static_problems(run: Path, loop_sft: list[dict]) -> None:
    """control/static_problems: round 1's teacher sampled the static set's problems (generate.n each), and the
    loop's selection, its budget set to round 1's size, kept verified-correct chains of those problems only."""
    from limo_rl.data.io import read_problems
    from limo_rl.generate import read_chains
    from limo_rl.toy import toy_correct

    d = run / "seed0/control/static_problems"
    static = {p.id: p for p in read_problems(d / "problems.jsonl")}
    assert len(static) == 64  # loop.static.limit
    gold_ids = {e["problem_id"] for e in read_jsonl(run / "seed0/static/data/sft.jsonl")}
    assert set(static) == gold_ids
    chains = list(read_chains(d / "generate/chains"))
    assert len(chains) == 2 * 64 and {c.problem_id for c in chains} == set(static)
    sft = read_jsonl(d / "data/sft.jsonl")
    match = json.loads((d / "match.json").read_text())
    assert match["match_target"] == len(loop_sft) and match["examples"] == len(sft) <= len(loop_sft)
    assert match["static_problems"] == 64 and match["shortfall"] == len(loop_sft) - len(sft)
    for e in sft:
        assert e["problem_id"] in static and toy_correct(e["messages"][-1]["content"], static[e["problem_id"]].answer)
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    if sft:  # trained and compared with round 1 like any control
        assert stages["seed0/control/static_problems/evaluate"]["status"] == "done"
        doc = json.loads((run / "report.json").read_text())
        assert any(c["a"] == "loop/round1" and c["b"] == "control/static_problems" for c in doc["comparisons"])


def check_report_json(run: Path) -> None:
    """report.json's paired differences agree with a recomputation from each arm's samples.parquet."""
    import pyarrow.parquet as pq

    doc = json.loads((run / "report.json").read_text())
    where = {"base": "baselines/base", "static": "static", "loop/round1": "loop/round1",
             "control/own_incorrect": "control/own_incorrect", "control/static_problems": "control/static_problems"}

    def pass1(label: str, bench: str) -> dict[str, float]:
        rows = pq.read_table(run / "seed0" / where[label] / "evaluate" / "samples.parquet").to_pylist()
        per: dict[str, list[float]] = {}
        for r in rows:
            if r["benchmark"] == bench:
                per.setdefault(r["problem_id"], []).append(float(r["correct"]))
        return {p: sum(v) / len(v) for p, v in per.items()}

    pairs = {(c["a"], c["b"]) for c in doc["comparisons"]}
    assert {("loop/round1", "base"), ("loop/round1", "static"), ("static", "base")} <= pairs
    for c in doc["comparisons"]:
        a, b = pass1(c["a"], c["benchmark"]), pass1(c["b"], c["benchmark"])
        assert set(a) == set(b) and len(a) == c["n_problems"]
        assert abs(c["difference"] - sum(a[p] - b[p] for p in a) / len(a)) < 1e-12
        assert c["p_value"] <= c["p_adjusted"] <= 1 and c["ci_low"] <= c["difference"] <= c["ci_high"]
        assert "beats" in c["verdict"] or c["verdict"].startswith("no detectable difference (smallest detectable:")
    arms = {a["arm"]: a for a in doc["arms"]}
    for label in ("loop/round1", "static"):
        assert arms[label]["examples"] > 0 and arms[label]["steps"] > 0 and arms[label]["tokens"] > 0
    md = (run / "report.md").read_text()
    assert next(ln for ln in md.splitlines() if ln.startswith("|")).startswith("| A | B | benchmark |")


def test_second_invocation_does_no_work(finished_run, root):
    before = {p: p.stat().st_mtime_ns for p in finished_run.rglob(STAGE_MARKER)}
    t0 = time.monotonic()
    # not -q: the run's result line ("... nothing to do ...") is part of the normal console, on stdout
    res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "run", *recipe_args(root, "a")], cwd=REPO,
                         env=cli_env(), capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "nothing to do" in res.stdout, res.stdout[-3000:]
    assert {p: p.stat().st_mtime_ns for p in finished_run.rglob(STAGE_MARKER)} == before
    assert time.monotonic() - t0 < 60
    manifest = json.loads((finished_run / "manifest.json").read_text())
    assert len(manifest["invocations"]) == 2 and manifest["status"] == "finished"


def test_killed_during_generation_resumes_to_same_sft_set(finished_run, root):
    args = [*recipe_args(root, "b"), "run.share_stages=false"]  # it must generate, not fetch run a's stages
    chains = root / "b" / "seed0/loop/round1/generate/chains"
    proc = subprocess.Popen([sys.executable, "-m", "limo_rl.cli", "-q", "run", *args], cwd=REPO, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while not list(chains.glob("*.parquet")):
            assert proc.poll() is None, "the run ended before generation wrote a shard"
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kill_session(proc.pid)  # the Ray cluster it started, too
    done_before = {p.name: p.stat().st_mtime_ns for p in chains.glob("*.parquet")}
    assert not (root / "b" / "seed0/loop/round1/generate" / STAGE_MARKER).exists() or len(done_before) == 4
    res = limo("select", *args)  # the recipe up to selection: resumes generation, then verify and select
    assert res.returncode == 0, res.stderr[-5000:]
    for name, mtime in done_before.items():
        assert (chains / name).stat().st_mtime_ns == mtime, f"{name} was regenerated"
    a = (finished_run / "seed0/loop/round1/select/sft.jsonl").read_text()
    b = (root / "b" / "seed0/loop/round1/select/sft.jsonl").read_text()
    assert a == b
    from limo_rl.generate import read_chains

    rows = read_chains(chains)
    keys = [(c.problem_id, c.sample_index) for c in rows]
    assert len(keys) == len(set(keys)) == 24 * 2


def test_a_variant_in_the_same_folder_reuses_the_shared_stages(finished_run, root):
    """A second run of the family (another selection strategy) takes the pool, round 1's generation and
    verification from the stage store (hard links, no compute) and computes selection; the console says so."""
    args = [*recipe_args(root, "v"), "select.strategy=correct_random"]
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "select", *args], cwd=REPO, env=cli_env(),
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    assert time.monotonic() - t0 < 120  # no generation: nothing on Ray
    stages = json.loads((root / "v" / "manifest.json").read_text())["stages"]
    for key in ("pool", "seed0/loop/round1/generate", "seed0/loop/round1/verify"):
        assert stages[key]["status"] == "done" and stages[key]["reused_from"], key
        assert stages[key]["input_hash"] == json.loads((finished_run / "manifest.json").read_text())[
            "stages"][key]["input_hash"]
    assert "reused_from" not in stages["seed0/loop/round1/select"]
    assert "from the stage store" in res.stderr  # the stage's console line
    shared = re.search(r"\((\d+) from the stage store\)", res.stdout)
    assert shared and int(shared.group(1)) >= 3, res.stdout
    a_chain = next((finished_run / "seed0/loop/round1/generate/chains").glob("*.parquet"))
    v_chain = root / "v" / a_chain.relative_to(finished_run)
    assert v_chain.stat().st_ino == a_chain.stat().st_ino  # a hard link: no bytes copied


def test_edited_evaluation_chains_are_made_again_not_laundered(finished_run, root):
    """Issue 25 case 1: every chain of the loop's evaluation rewritten to the gold answer, then a rerun with only
    a statistics setting changed: the edited shards stay aside, the chains are generated again (the same bytes)
    and the figures are the untampered ones."""
    import pyarrow.parquet as pq

    from limo_rl.run.hashing import hash_file

    ev = finished_run / "seed0/loop/round1/evaluate"
    before = json.loads((ev / "metrics.json").read_text())["benchmarks"]["toy_eval"]
    gold = {r["problem_id"]: r["gold"] for r in pq.read_table(ev / "samples.parquet").to_pylist()}
    shards = sorted((ev / "toy_eval/generate/chains").glob("shard-*.parquet"))
    originals = {p.name: hash_file(p) for p in shards}
    for p in shards:
        table = pq.read_table(p)
        rows = [{**r, "text": f"\\boxed{{{gold[r['problem_id']]}}}"} for r in table.to_pylist()]
        pq.write_table(table.from_pylist(rows, schema=table.schema), p)
    res = limo("run", *recipe_args(root, "a"), "evaluate.bootstrap_samples=400")
    assert res.returncode == 0, res.stderr[-5000:]
    assert {p.name: hash_file(p) for p in shards} == originals
    after = json.loads((ev / "metrics.json").read_text())["benchmarks"]["toy_eval"]
    assert after["metrics"][after["primary"]]["value"] == before["metrics"][before["primary"]]["value"]
    assert json.loads((ev / "metrics.json").read_text())["bootstrap_samples"] == 400


def test_changed_selection_reruns_selection_not_generation(finished_run, root):
    """Runs last in this module: it changes run a's selection."""
    rd = finished_run / "seed0/loop/round1"
    before = {s: (rd / s / STAGE_MARKER).stat().st_mtime_ns for s in ("generate", "verify", "select")}
    res = limo("select", *recipe_args(root, "a"), "select.strategy=correct_random")
    assert res.returncode == 0, res.stderr[-3000:]
    after = {s: (rd / s / STAGE_MARKER).stat().st_mtime_ns for s in ("generate", "verify", "select")}
    assert after["generate"] == before["generate"] and after["verify"] == before["verify"]
    assert after["select"] != before["select"]
    stats = json.loads((rd / "select" / "stats.json").read_text())
    assert stats["strategy"] == "correct_random"
