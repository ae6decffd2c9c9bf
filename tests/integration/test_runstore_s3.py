"""An object-store run folder (issue 20): commit (marker last), pull, resume, no duplicates, the lease.

The store is a real S3-compatible server (moto in server mode) on 127.0.0.1, reached through s3fs
configured only by the standard AWS environment. Each "fresh machine" is a new, empty working copy
(``LIMO_RL_RUN_CACHE``) pulling from the same store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")

from limo_rl.loop.cache import StageRunner  # noqa: E402
from limo_rl.run.artifacts import STAGE_MARKER, Manifest, atomic_write_text, read_stage_marker  # noqa: E402
from limo_rl.run.lease import LEASE, LeaseLostError, StoreLease  # noqa: E402
from limo_rl.run.modelstore import CACHE_ENV  # noqa: E402
from limo_rl.run.objectstore import PARTIAL, WORK_ENV, RunStore, RunStoreError  # noqa: E402
from tests.integration.s3_server import moto_server, new_bucket, s3_env  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as url:
        yield url


@pytest.fixture
def run_uri(endpoint, monkeypatch, tmp_path):
    for k, v in {**s3_env(endpoint), CACHE_ENV: str(tmp_path / "models"), WORK_ENV: str(tmp_path / "m1")}.items():
        monkeypatch.setenv(k, v)
    return f"s3://{new_bucket(endpoint)}/runs/r1"


def machine(monkeypatch, tmp_path, name: str, uri: str) -> RunStore:
    """A fresh machine: its own empty working copy of the run."""
    monkeypatch.setenv(WORK_ENV, str(tmp_path / name))
    store = RunStore(uri)
    assert not store.local.exists()
    return store


def keys(store: RunStore) -> set[str]:
    store.fs.invalidate_cache()
    return {k[len(store.root) + 1:] for k in store.fs.find(store.root)}


def runner(store: RunStore) -> StageRunner:
    store.pull()
    return StageRunner(store.local, Manifest(store.local / "manifest.json"), store=store)


def shards_stage(names: list[str], calls: list[str]):
    def fn(out: Path) -> dict:
        for n in names:
            if not (out / "chains" / n).exists():  # a resumed stage keeps what it finished
                atomic_write_text(out / "chains" / n, f"rows of {n}\n")
                calls.append(n)
        atomic_write_text(out / "stats.json", json.dumps({"shards": len(names)}))
        return {"shards": len(names)}
    return fn


def test_commit_then_a_fresh_machine_pulls_and_skips(run_uri, monkeypatch, tmp_path):
    calls: list[str] = []
    a = runner(RunStore(run_uri))
    a.run("generate", a.run_dir / "gen", {"k": 1}, shards_stage(["s0", "s1"], calls), ["chains"])
    store = a.store
    assert {"gen/chains/s0", "gen/chains/s1", "gen/stats.json", "gen/_STAGE_INPUT.json",
            f"gen/{STAGE_MARKER}", "manifest.json"} <= keys(store)
    # a second machine: everything committed arrives, the stage is reused, nothing recomputed
    b = runner(machine(monkeypatch, tmp_path, "m2", run_uri))
    assert (b.run_dir / "gen/chains/s1").read_text() == "rows of s1\n"
    assert read_stage_marker(b.run_dir / "gen") == read_stage_marker(a.run_dir / "gen")
    b.run("generate", b.run_dir / "gen", {"k": 1}, shards_stage(["s0", "s1"], calls), ["chains"])
    assert calls == ["s0", "s1"] and b.skipped == ["gen"]
    assert b.manifest.data["stages"]["gen"]["status"] == "done"  # the manifest record came along


def test_kill_between_upload_and_marker_means_not_done(run_uri, monkeypatch, tmp_path):
    """The marker goes up last: a driver dying after the files and before the marker left a stage that
    is not done; the next driver (another machine) redoes it and then commits it."""
    calls: list[str] = []
    a = runner(RunStore(run_uri))
    real_put = a.store.fs.put_file

    def dies_at_the_marker(src, dst, **kw):  # the process ends here (the store itself is real)
        if dst.endswith(STAGE_MARKER):
            raise KeyboardInterrupt("killed")
        return real_put(src, dst, **kw)

    with monkeypatch.context() as patched:
        patched.setattr(a.store.fs, "put_file", dies_at_the_marker)
        with pytest.raises(KeyboardInterrupt):
            a.run("generate", a.run_dir / "gen", {"k": 1}, shards_stage(["s0", "s1"], calls), ["chains"])
    assert "gen/chains/s1" in keys(a.store) and f"gen/{STAGE_MARKER}" not in keys(a.store)
    assert (a.run_dir / "gen" / STAGE_MARKER).is_file()  # done locally, never committed

    # the same machine: the store decides, the local marker is cleared, the stage runs again
    assert a.store.pull()["reset"] == ["gen"]
    assert not (a.run_dir / "gen" / STAGE_MARKER).exists()
    # a fresh machine redoes the whole stage (nothing of it was committed) and commits it
    b = runner(machine(monkeypatch, tmp_path, "m2", run_uri))
    assert not (b.run_dir / "gen").exists()
    b.run("generate", b.run_dir / "gen", {"k": 1}, shards_stage(["s0", "s1"], calls), ["chains"])
    assert calls == ["s0", "s1", "s0", "s1"] and b.ran == ["gen"]
    assert f"gen/{STAGE_MARKER}" in keys(b.store)
    c = runner(machine(monkeypatch, tmp_path, "m3", run_uri))
    c.run("generate", c.run_dir / "gen", {"k": 1}, shards_stage(["s0", "s1"], calls), ["chains"])
    assert c.skipped == ["gen"] and len(calls) == 4


def test_changed_inputs_leave_no_duplicates_in_the_store(run_uri, monkeypatch, tmp_path):
    calls: list[str] = []
    a = runner(RunStore(run_uri))
    a.run("generate", a.run_dir / "gen", {"k": 1}, shards_stage(["s0", "s1", "s2"], calls), ["chains"])
    # inputs change: the local copy is set aside (kept), the stage writes fewer shards, the store holds
    # exactly the new stage: no shard of the old inputs beside the new ones
    a2 = StageRunner(a.run_dir, a.manifest, store=a.store)
    a2.run("generate", a.run_dir / "gen", {"k": 2}, shards_stage(["s0"], calls), ["chains"])
    assert {k for k in keys(a.store) if k.startswith("gen/chains/")} == {"gen/chains/s0"}
    assert any(p.name.startswith("stale-") for p in (a.run_dir / "gen").iterdir())  # kept locally
    assert not any("stale-" in k for k in keys(a.store))
    b = runner(machine(monkeypatch, tmp_path, "m2", run_uri))
    assert sorted(p.name for p in (b.run_dir / "gen/chains").iterdir()) == ["s0"]
    b.run("generate", b.run_dir / "gen", {"k": 2}, shards_stage(["s0"], calls), ["chains"])
    assert b.skipped == ["gen"]
    # a recommit of unchanged files sends only the marker
    assert a.store.commit_stage(a.run_dir / "gen") == 1


def test_pull_sets_aside_a_local_copy_that_differs(run_uri, monkeypatch, tmp_path):
    calls: list[str] = []
    a = runner(RunStore(run_uri))
    a.run("generate", a.run_dir / "gen", {"k": 1}, shards_stage(["s0"], calls), ["chains"])
    (a.run_dir / "gen/chains/s0").write_text("edited by hand\n")
    pulled = a.store.pull()
    assert pulled["pulled"] == ["gen"]
    assert (a.run_dir / "gen/chains/s0").read_text() == "rows of s0\n"
    stale = [p for p in (a.run_dir / "gen").iterdir() if p.name.startswith("stale-")]
    assert len(stale) == 1 and (stale[0] / "chains/s0").read_text() == "edited by hand\n"  # kept, not lost


def test_lease_one_driver_per_run(run_uri, monkeypatch, tmp_path):
    store = RunStore(run_uri)
    first = StoreLease(store, ["limo-rl", "run", "a"], ttl_s=30)
    first.acquire()
    try:
        other = StoreLease(RunStore(run_uri), ["limo-rl", "run", "b"], ttl_s=30)
        with pytest.raises(RunStoreError, match=f"pid {os.getpid()}.*limo-rl run a"):
            other.acquire()
    finally:
        first.release()
    assert LEASE not in keys(store)
    # a lease whose holder is gone (same host, dead pid) is taken over at once
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    store.fs.pipe_file(f"{store.root}/{LEASE}", json.dumps(
        {"pid": pid, "host": os.uname().nodename, "start_ticks": None, "token": "x", "heartbeat_at": time.time(),
         "ttl_s": 3600, "argv": ["old"]}).encode())
    with StoreLease(store, ["new"], ttl_s=30).held():
        assert json.loads(store.fs.cat_file(f"{store.root}/{LEASE}"))["argv"] == ["new"]
    # on another host, only an old heartbeat frees it
    store.fs.pipe_file(f"{store.root}/{LEASE}", json.dumps(
        {"pid": 1, "host": "elsewhere", "token": "y", "heartbeat_at": time.time(), "ttl_s": 3600}).encode())
    with pytest.raises(RunStoreError, match="elsewhere"):
        StoreLease(store, ["new"], ttl_s=30).acquire()
    store.fs.pipe_file(f"{store.root}/{LEASE}", json.dumps(
        {"pid": 1, "host": "elsewhere", "token": "y", "heartbeat_at": time.time() - 100, "ttl_s": 60}).encode())
    with StoreLease(store, ["new"], ttl_s=30).held():
        pass


def test_recipe_on_s3_writes_no_local_run_folder_and_resumes_elsewhere(run_uri, monkeypatch, tmp_path):
    """``limo-rl run`` with ``run.output_dir: s3://...`` up to the pool stage (no Ray needed), twice, from
    two machines: the second reuses the committed stage; nothing lands in a local run folder."""
    bucket = run_uri.split("/")[2]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", WORK_ENV: str(tmp_path / "m1")}
    args = [sys.executable, "-m", "limo_rl.cli", "-q", "pool", str(REPO / "recipes/quickstart.yaml"),
            f"run.output_dir=s3://{bucket}/runs", "run.name=r2", "tracking.backend=none", "pool.toy.n=24"]
    first = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    store = RunStore(f"s3://{bucket}/runs/r2")
    assert {"config.yaml", "manifest.json", "pool/problems.jsonl", f"pool/{STAGE_MARKER}"} <= keys(store)
    assert LEASE not in keys(store)  # released at the end
    second = subprocess.run(args, cwd=cwd, env={**env, WORK_ENV: str(tmp_path / "m2")}, capture_output=True,
                            text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    manifest = json.loads(store.fs.cat_file(f"{store.root}/manifest.json"))
    assert len(manifest["invocations"]) == 2 and manifest["stages"]["pool"]["status"] == "done"
    assert list(cwd.iterdir()) == []  # no "s3:" folder, no runs/, nothing


def test_a_store_that_cannot_be_used_is_one_line(run_uri):
    store = RunStore("s3://no-such-bucket-here/runs/r")
    with pytest.raises(RunStoreError, match="run.output_dir s3://no-such-bucket-here/runs/r: cannot take the run's "
                                            "lease .*bucket does not exist"):
        StoreLease(store, ["x"]).acquire()  # the driver takes the lease before anything else touches the store


def stage_of(names: list[str]):
    """A stage writing one file per name (a stand-in for select or train: no parts)."""
    def fn(out: Path) -> dict:
        for n in names:
            atomic_write_text(out / n, f"{n}\n")
        return {"files": len(names)}
    return fn


def test_a_stalled_driver_that_lost_the_lease_stops_before_its_next_commit(run_uri, monkeypatch, tmp_path):
    """Issue 25 item 2: driver A stalls past the lease's TTL (its heartbeat stops, as under SIGSTOP), driver B
    takes the run over with other inputs; A wakes and stops with LeaseLostError before it writes anything
    more, its run-level records are not pushed, its lease release leaves B's lease alone, and the store holds
    B's stages only."""
    calls: list[str] = []
    a_store = RunStore(run_uri)
    a_lease = StoreLease(a_store, ["limo-rl", "run", "A"], ttl_s=0.8)
    a_lease.acquire()
    a = runner(a_store)
    a.run("generate", a.run_dir / "gen", {"k": "A"}, shards_stage(["a0", "a1"], calls), ["chains"])
    a_lease._stop.set()  # A stalls: its heartbeat no longer renews the lease
    a_lease._thread.join()
    time.sleep(1.0)
    b_store = machine(monkeypatch, tmp_path, "m2", run_uri)
    b_lease = StoreLease(b_store, ["limo-rl", "run", "B"], ttl_s=30)
    b_lease.acquire()  # the lease is older than its TTL: B takes the run over
    try:
        b = runner(b_store)
        b.run("generate", b.run_dir / "gen", {"k": "B"}, shards_stage(["b0"], calls), ["chains"])
        b.run("select", b.run_dir / "sel", {"k": "B"}, stage_of(["sft.jsonl"]), ["sft.jsonl"])
        manifest_b = b_store.fs.cat_file(f"{b_store.root}/manifest.json")
        before = {k: b_store.fs.info(f"{b_store.root}/{k}")["ETag"] for k in keys(b_store) if k != LEASE}

        # A wakes: the next stage it starts is refused before it touches the store
        with pytest.raises(LeaseLostError, match=r"taken over by pid \d+ on .*limo-rl run B.*stopping before "
                                                 r"starting sel"):
            a.run("select", a.run_dir / "sel", {"k": "A"}, stage_of(["sft.jsonl", "more.jsonl"]), ["sft.jsonl"])
        # a stage A had finished locally is never committed: the check runs before any upload
        atomic_write_text(a.run_dir / "sel" / STAGE_MARKER, json.dumps({"input_hash": "A", "outputs": {}}))
        with pytest.raises(LeaseLostError, match="stopping before committing sel"):
            a_store.commit_stage(a.run_dir / "sel")
        with pytest.raises(LeaseLostError):
            a_store.commit_part(a.run_dir / "gen", a.run_dir / "gen" / "chains" / "a0")
        a.push(a.manifest.path)  # skipped (logged): the run's records are B's now
        a_lease.release()  # must not remove B's lease
        assert json.loads(b_store.fs.cat_file(f"{b_store.root}/{LEASE}"))["argv"] == ["limo-rl", "run", "B"]
        after = {k: b_store.fs.info(f"{b_store.root}/{k}")["ETag"] for k in keys(b_store) if k != LEASE}
        assert after == before  # not one object written or removed by A
        assert b_store.fs.cat_file(f"{b_store.root}/manifest.json") == manifest_b
        assert {k for k in keys(b_store) if k.startswith("gen/chains/")} == {"gen/chains/b0"}
        assert "sel/more.jsonl" not in keys(b_store)
        # B goes on committing
        b.run("evaluate", b.run_dir / "ev", {"k": "B"}, stage_of(["metrics.json"]), ["metrics.json"])
        assert f"ev/{STAGE_MARKER}" in keys(b_store)
    finally:
        b_lease.release()
    assert LEASE not in keys(b_store)


def test_the_commit_point_rechecks_the_lease(run_uri, monkeypatch, tmp_path):
    """A take-over while a stage's files go up (the lease object rewritten by another driver, before the
    heartbeat could notice): the marker never goes up, nothing is deleted, the stage is not done in the store."""
    calls: list[str] = []
    store = RunStore(run_uri)
    with StoreLease(store, ["limo-rl", "run", "A"], ttl_s=60).held() as lease:
        a = runner(store)
        real_put = store.fs.put_file

        def taken_over_meanwhile(src, dst, **kw):
            out = real_put(src, dst, **kw)
            if "/chains/" in dst:  # another driver takes the run over while A uploads
                store.fs.pipe_file(lease.key, json.dumps({"pid": 1, "host": "elsewhere", "token": "other",
                                                          "heartbeat_at": time.time(), "ttl_s": 60,
                                                          "argv": ["limo-rl", "run", "B"]}).encode())
            return out

        with monkeypatch.context() as patched:
            patched.setattr(store.fs, "put_file", taken_over_meanwhile)
            with pytest.raises(LeaseLostError, match="pid 1 on elsewhere.*stopping before sealing gen"):
                a.run("generate", a.run_dir / "gen", {"k": 1}, shards_stage(["s0"], calls), ["chains"])
        assert f"gen/{STAGE_MARKER}" not in keys(store)
    assert json.loads(store.fs.cat_file(f"{store.root}/{LEASE}"))["token"] == "other"  # left to its holder


def parts_stage(names: list[str], calls: list[str], store: RunStore, die_after: int | None = None):
    """A generate-like stage that commits each shard as it lands (as the loop's generate stage does)."""
    def fn(out: Path) -> dict:
        for n in names:
            if (out / "chains" / n).exists():  # a resumed stage keeps what it finished
                continue
            if die_after is not None and len(calls) >= die_after:
                raise KeyboardInterrupt("preempted")
            atomic_write_text(out / "chains" / n, f"rows of {n}\n")
            calls.append(n)
            store.commit_part(out, out / "chains" / n)
        atomic_write_text(out / "stats.json", json.dumps({"shards": len(names)}))
        return {"shards": len(names)}
    return fn


def test_finished_shards_are_committed_and_a_fresh_machine_resumes_from_them(run_uri, monkeypatch, tmp_path):
    """Issue 25 item 10: a node preempted after 2 of 3 shards; a fresh working copy pulls the 2 committed
    shards and runs only the third (not from shard 0); the stage's marker still goes last."""
    names = ["s0", "s1", "s2"]
    calls: list[str] = []
    a = runner(RunStore(run_uri))
    with pytest.raises(KeyboardInterrupt):
        a.run("generate", a.run_dir / "gen", {"k": 1}, parts_stage(names, calls, a.store, die_after=2), ["chains"])
    committed = keys(a.store)
    assert {"gen/chains/s0", "gen/chains/s1", f"gen/{PARTIAL}"} <= committed
    assert "gen/chains/s2" not in committed and f"gen/{STAGE_MARKER}" not in committed

    b_store = machine(monkeypatch, tmp_path, "m2", run_uri)
    assert b_store.pull()["partial"] == ["gen"]
    b = StageRunner(b_store.local, Manifest(b_store.local / "manifest.json"), store=b_store)
    b.run("generate", b.run_dir / "gen", {"k": 1}, parts_stage(names, calls, b_store), ["chains"])
    assert calls == ["s0", "s1", "s2"]  # 2 done, 1 to run
    assert (b.run_dir / "gen/chains/s0").read_text() == "rows of s0\n"
    done = keys(b_store)
    assert f"gen/{STAGE_MARKER}" in done and f"gen/{PARTIAL}" not in done  # sealed: no partial record left

    # parts of other inputs are never resumed: a fresh machine with changed inputs sets them aside, redoes all
    c_calls: list[str] = []
    a2 = runner(machine(monkeypatch, tmp_path, "m3", run_uri))
    with pytest.raises(KeyboardInterrupt):
        a2.run("generate", a2.run_dir / "gen", {"k": 2}, parts_stage(names, c_calls, a2.store, die_after=1),
               ["chains"])
    d = runner(machine(monkeypatch, tmp_path, "m4", run_uri))
    d.run("generate", d.run_dir / "gen", {"k": 3}, parts_stage(names, c_calls, d.store), ["chains"])
    assert c_calls == ["s0", "s0", "s1", "s2"]


@pytest.mark.slow
def test_generate_on_s3_resumes_at_the_shard_and_drops_an_overlong_prompt(
        run_uri, monkeypatch, tmp_path, ray_cluster, tiny_model_dir, caplog):
    """The real generate stage (HF engine on Ray) of an object-store run: one problem's prompt exceeds the
    tiny model's 2,048 positions and is dropped and counted while the others are generated (issue 25 item 5,
    issue 31 item 9); the node is preempted after 2 committed shards and a fresh working copy resumes from
    them: "2 done, 4 to run" (issue 25 item 10), though the model's path differs between the two nodes (a toy
    model is built in each working copy's cache: the shard keys name the model by its fingerprint)."""
    from limo_rl.config import GenerateConfig
    from limo_rl.generate import read_chains, run_generation
    from limo_rl.types import Problem

    problems = [Problem(id=f"p{i}", question=f"Compute {i} + {i + 2}.", answer=str(2 * i + 2)) for i in range(5)]
    problems.insert(2, Problem(id="p-long", question=" ".join(f"w{i}" for i in range(4000)), answer="0"))
    cfg = GenerateConfig(engine="hf", n=2, max_new_tokens=16, shard_size=1, batch_size=1, num_actors=1,
                         temperature=1.0)

    def stage(store: RunStore, preempt_after: int | None = None):
        sent: list[Path] = []
        model = store.local.parent / "model"  # this node's copy of the model
        model.parent.mkdir(parents=True, exist_ok=True)
        model.symlink_to(tiny_model_dir, target_is_directory=True)

        def on_shard(path: Path, out: Path) -> None:
            if preempt_after is not None and len(sent) >= preempt_after:
                raise KeyboardInterrupt("node preempted")
            store.commit_part(out, path)
            sent.append(path)

        def fn(out: Path) -> dict:
            return run_generation(problems, cfg, str(model), out, base_seed=3, model_id="weights:tiny",
                                  teacher_name="tiny", on_shard=lambda p: on_shard(p, out)).stats
        return fn

    a = runner(RunStore(run_uri))
    with pytest.raises(KeyboardInterrupt):
        a.run("generate", a.run_dir / "gen", {"k": 1}, stage(a.store, preempt_after=2), ["chains"])
    assert len([k for k in keys(a.store) if k.startswith("gen/chains/shard-")]) == 2

    b = runner(machine(monkeypatch, tmp_path, "m2", run_uri))
    with caplog.at_level("WARNING", logger="limo_rl.generate.driver"):
        marker = b.run("generate", b.run_dir / "gen", {"k": 1}, stage(b.store), ["chains"])
    figures = marker["metrics"]
    assert (figures["shards"], figures["shards_skipped"], figures["shards_generated"]) == (6, 2, 4)
    assert figures["dropped_over_window"] == 1 and figures["dropped"][0]["problem_id"] == "p-long"
    assert figures["dropped"][0]["prompt_tokens"] + 16 > figures["dropped"][0]["limit"] == 2048
    assert b.manifest.data["stages"]["gen"]["metrics"]["dropped_over_window"] == 1
    assert any("1 of 6 problem(s) dropped" in r.getMessage() and "p-long" in r.getMessage() for r in caplog.records)
    chains = read_chains(b.run_dir / "gen" / "chains")
    assert [(c.problem_id, c.sample_index) for c in chains] == [(p.id, j) for p in sorted(
        problems, key=lambda p: p.id) if p.id != "p-long" for j in range(2)]
    assert f"gen/{STAGE_MARKER}" in keys(b.store) and f"gen/{PARTIAL}" not in keys(b.store)


def test_the_heartbeat_notices_a_take_over_and_stops_renewing(run_uri):
    store = RunStore(run_uri)
    lease = StoreLease(store, ["limo-rl", "run", "A"], ttl_s=0.4)
    lease.acquire()
    try:
        other = {"pid": 1, "host": "elsewhere", "token": "other", "heartbeat_at": time.time(), "ttl_s": 60}
        store.fs.pipe_file(lease.key, json.dumps(other).encode())
        lease._thread.join(timeout=10)
        assert not lease._thread.is_alive() and "pid 1 on elsewhere" in (lease.lost or "")
        assert json.loads(store.fs.cat_file(lease.key))["token"] == "other"  # never overwritten
        with pytest.raises(LeaseLostError):
            store.check_lease("anything")
    finally:
        lease.release()
    assert json.loads(store.fs.cat_file(lease.key))["token"] == "other" and store.holder is None
