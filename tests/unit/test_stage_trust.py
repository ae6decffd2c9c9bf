"""Issue 15: a stage cache that trusts only what it verified, never deletes before replacing,
one writer per run folder, secrets scrubbed, files readable per umask, a damaged manifest recovered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from limo_rl.console.redact import SecretEnv, redact, register_secret
from limo_rl.loop.cache import StageRunner
from limo_rl.run import artifacts as A
from limo_rl.run import hashing
from limo_rl.run.lock import LOCK_NAME, RunLockedError, acquire, read_lock, release, run_lock
from limo_rl.run.stagecache import STALE_PREFIX

REPO = Path(__file__).resolve().parents[2]


def make_runner(tmp_path, **kw):
    return StageRunner(tmp_path, A.Manifest(tmp_path / "manifest.json"), **kw)


def writer(calls, text="good"):
    def fn(d):
        calls.append(d)
        out = d / "out.txt"
        # resumes from what it finds, as grading does: a tampered file left in place would be kept
        out.write_text(out.read_text() if out.exists() else text)
        return {"rows": 1}
    return fn


# ------------------------------------------------------------------------------------------ case 1: hashes
def test_hash_cache_is_never_served_for_changed_bytes(tmp_path):
    """Same size, mtime set back: the digest still changes (ctime is part of the cache key)."""
    f = tmp_path / "w.bin"
    f.write_bytes(b"x" * 4096)
    st = f.stat()
    h = hashing.hash_file(f)
    with open(f, "r+b") as fh:
        fh.seek(2000)
        fh.write(b"y")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    assert hashing.hash_file(f) == hashing.hash_bytes_of(f) != h


def test_hash_cache_makes_a_rerun_read_nothing(tmp_path):
    """A second process finds the digest in the on-disk cache without reading the file."""
    f = tmp_path / "model.safetensors"
    f.write_bytes(os.urandom(1 << 20))
    digest = hashing.hash_file(f)
    code = textwrap.dedent(f"""
        from limo_rl.run import hashing
        def boom(path):
            raise AssertionError("read the file")
        hashing.hash_bytes_of = boom
        print(hashing.hash_file({str(f)!r}))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == digest


def test_model_folder_manifest_names_the_changed_file(tmp_path):
    st = tmp_path / "train"
    (st / "model").mkdir(parents=True)
    (st / "model" / "config.json").write_text("{}")
    (st / "model" / "model.safetensors").write_bytes(b"w" * 10000)
    A.mark_stage_done(st, "h", ["model"])
    with open(st / "model" / "model.safetensors", "r+b") as fh:
        fh.truncate(5000)
    d = A.stage_decision(st, "h")
    assert d.run and d.damaged and "model/model.safetensors" in d.reason


def test_tampered_output_is_set_aside_and_rerun_not_resealed(tmp_path):
    """Case 1: an edited sealed output makes the stage run again from a fresh folder; the edit is kept aside."""
    calls = []
    d = tmp_path / "seed0" / "verify"
    make_runner(tmp_path).run("verify", d, {"a": 1}, writer(calls), ["out.txt"])
    (d / "out.txt").write_text("tampered")
    r = make_runner(tmp_path)
    marker = r.run("verify", d, {"a": 1}, writer(calls), ["out.txt"])
    assert len(calls) == 2 and r.ran == ["seed0/verify"]
    assert (d / "out.txt").read_text() == "good"  # not resumed from the tampered file
    assert marker["outputs"]["out.txt"] == hashing.hash_path(d / "out.txt")
    m = json.loads((tmp_path / "manifest.json").read_text())
    [entry] = m["set_aside"]
    kept = Path(entry["path"])
    assert kept.parent == d and kept.name.startswith(STALE_PREFIX) and (kept / "out.txt").read_text() == "tampered"
    assert "modified" in entry["reason"]


def test_unreadable_marker_is_not_trusted(tmp_path):
    calls = []
    d = tmp_path / "select"
    make_runner(tmp_path).run("select", d, {}, writer(calls), ["out.txt"])
    (d / A.STAGE_MARKER).write_bytes(b"\xff\xfe not json")
    make_runner(tmp_path).run("select", d, {}, writer(calls), ["out.txt"])
    assert len(calls) == 2


# ------------------------------------------------------------------------------------------ case 3: keep old
def test_changed_inputs_move_the_old_folder_aside_before_running(tmp_path):
    """Case 3: a stage whose new inputs fail (a missing model) leaves the old student intact, aside."""
    d = tmp_path / "train"
    make_runner(tmp_path).run("train", d, {"model": "a"}, lambda out: (out / "model").mkdir() or
                              (out / "model" / "w.bin").write_bytes(b"trained") and {}, ["model"])

    def fails(out):
        raise FileNotFoundError("no such model")

    with pytest.raises(FileNotFoundError):
        make_runner(tmp_path).run("train", d, {"model": "missing"}, fails, ["model"])
    [entry] = json.loads((tmp_path / "manifest.json").read_text())["set_aside"]
    assert (Path(entry["path"]) / "model" / "w.bin").read_bytes() == b"trained"
    assert entry["reason"] == "inputs changed"


def test_carry_reuses_samples_when_only_statistics_change(tmp_path):
    """Case 3: evaluate.bootstrap_samples changes the stage's inputs but not its samples' key."""
    d = tmp_path / "evaluate"
    gens = []

    def evaluate(out):
        g = out / "bench" / "generate" / "shard.parquet"
        if not g.exists():
            gens.append(1)
            g.parent.mkdir(parents=True)
            g.write_text("samples")
        (out / "metrics.json").write_text("{}")
        return {}

    samples_key = {"model": "m", "protocol": {"n": 4}}
    make_runner(tmp_path).run("evaluate", d, {"bootstrap": 1000}, evaluate, ["metrics.json"],
                              carry={"bench/generate": samples_key})
    make_runner(tmp_path).run("evaluate", d, {"bootstrap": 500}, evaluate, ["metrics.json"],
                              carry={"bench/generate": samples_key})
    assert len(gens) == 1  # the samples were reused
    make_runner(tmp_path).run("evaluate", d, {"bootstrap": 500, "n": 8}, evaluate, ["metrics.json"],
                              carry={"bench/generate": {**samples_key, "protocol": {"n": 8}}})
    assert len(gens) == 2  # a sampling change regenerates


# ------------------------------------------------------------------------------------------ case 4: lock
def _holder(folder: Path) -> subprocess.Popen:
    code = f"from limo_rl.run.lock import acquire; import time; acquire({str(folder)!r}); print('held', flush=True); " \
           "time.sleep(60)"
    p = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_writer_gets_a_named_error(tmp_path):
    folder = tmp_path / "run"
    p = _holder(folder)
    try:
        with pytest.raises(RunLockedError) as err:
            acquire(folder, ["limo-rl", "run", "x.yaml"])
        assert f"pid {p.pid}" in str(err.value) and "being written" in str(err.value)
    finally:
        p.kill()
        p.wait()


def test_lock_of_a_killed_writer_is_taken_over(tmp_path, caplog):
    folder = tmp_path / "run"
    p = _holder(folder)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert read_lock(folder)["pid"] == p.pid  # the record stays behind
    with run_lock(folder, ["limo-rl", "run"]) as rec:
        assert rec["pid"] == os.getpid()
        with run_lock(folder):  # re-entrant in one process
            pass
        assert read_lock(folder)["pid"] == os.getpid()
    assert not (folder / LOCK_NAME).exists()
    assert "taking it over" in caplog.text


def test_release_is_per_process(tmp_path):
    rec = acquire(tmp_path)
    release(tmp_path)
    assert rec["pid"] == os.getpid() and not (tmp_path / LOCK_NAME).exists()


# ------------------------------------------------------------------------------------------ case 5: secrets
def test_redact_keys_and_tokens():
    register_secret("my-registered-secret-value")
    text = ('HTTP 401: {"error": "bad key", "headers": {"Authorization": "Bearer sk-live-abcdefghijkl"}, '
            '"echo": "my-registered-secret-value", "api_key": "zzzzzzzzzzzz"}')
    out = redact(text)
    for secret in ("sk-live-abcdefghijkl", "my-registered-secret-value", "zzzzzzzzzzzz"):
        assert secret not in out
    assert "HTTP 401" in out and "bad key" in out


def test_manifest_is_scrubbed_and_secret_env_hides_values(tmp_path, monkeypatch):
    m = A.Manifest(tmp_path / "manifest.json")
    m.record_stage("gen", status="failed", error="OpenAIError: HTTP 401: Authorization: Bearer abcdefgh12345678")
    assert "abcdefgh12345678" not in (tmp_path / "manifest.json").read_text()
    monkeypatch.setenv("LIMO_T_KEY", "val-123456789")
    env = SecretEnv(["LIMO_T_KEY", "NOT_SET_X"])
    assert "val-123456789" not in repr(env) and bool(env)
    monkeypatch.delenv("LIMO_T_KEY")
    env.export()
    assert os.environ["LIMO_T_KEY"] == "val-123456789"


# ------------------------------------------------------------------------------------------ case 9: umask
@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, mask, expected):
    old = os.umask(mask)
    try:
        p = A.atomic_write_json(tmp_path / "metrics.json", {"a": 1})
        s = A.atomic_write_bytes(tmp_path / "key", b"k", mode=0o600)
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == expected
    assert s.stat().st_mode & 0o777 == 0o600


# ------------------------------------------------------------------------------------------ case 8: manifest
@pytest.mark.parametrize("damage", [b"{trunc", b"\xff\xfe\x00", b"[1, 2]", b'{"stages": 3}'])
def test_damaged_manifest_is_kept_aside_and_restarted(tmp_path, damage):
    path = tmp_path / "manifest.json"
    path.write_bytes(damage)
    m = A.Manifest(path)
    m.record_stage("s", status="done")
    assert json.loads(path.read_text())["stages"]["s"]["status"] == "done"
    [kept] = list(tmp_path.glob("manifest.json.damaged-*"))
    assert kept.read_bytes() == damage


def test_clean_removes_only_listed_set_aside_folders(tmp_path):
    from limo_rl.loop.clean import clean_run

    d = tmp_path / "gen"
    make_runner(tmp_path).run("generate", d, {"t": 0.1}, writer([]), ["out.txt"])
    make_runner(tmp_path).run("generate", d, {"t": 0.7}, writer([]), ["out.txt"])
    [entry] = json.loads((tmp_path / "manifest.json").read_text())["set_aside"]
    other = d / f"{STALE_PREFIX}not-listed"
    other.mkdir()
    (other / "keep.txt").write_text("not the cache's")
    dry = clean_run(tmp_path, dry_run=True)
    assert dry.removed == [entry["path"]] and Path(entry["path"]).exists()
    rep = clean_run(tmp_path)
    assert rep.removed == [entry["path"]] and not Path(entry["path"]).exists() and other.exists()
    assert json.loads((tmp_path / "manifest.json").read_text())["set_aside"] == []
    assert (d / "out.txt").exists()


def test_die_with_parent_ends_a_child_whose_parent_was_killed(tmp_path):
    """Case 6 (mechanism): a busy child under die_with_parent ends within a second of its parent's SIGKILL."""
    pidfile = tmp_path / "child.pid"
    code = textwrap.dedent(f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "from limo_rl.runtime.procs import die_with_parent; import os; die_with_parent(0.2); "
            "open({str(pidfile)!r}, 'w').write(str(os.getpid()))\\nwhile True: sum(range(1000))"])
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    from limo_rl.runtime.procs import pid_alive

    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    child = int(pidfile.read_text())
    assert pid_alive(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 3
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child)


# ------------------------------------------------------------------------------------------ case 2: content keys
class _Recorder:
    def __init__(self):
        self.calls = []

    def run(self, kind, d, inputs, fn, outputs, carry=None):
        self.calls.append((kind, A.hash_obj(inputs), carry))
        return {"input_hash": "h"}


def test_edited_benchmark_file_and_model_folder_change_the_keys(tmp_path):
    """Case 2: a local benchmark file and a local model folder are keyed by content, not by path."""
    from limo_rl.config import load_recipe
    from limo_rl.loop.arms import SeedRun, resolve_model

    bench = tmp_path / "toy_eval.jsonl"
    bench.write_text('{"id": "a", "question": "q", "answer": "1"}\n')
    model = tmp_path / "student"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"w" * 100)
    recipe = load_recipe("recipes/quickstart.yaml", [f"run.output_dir={tmp_path}", "evaluate.benchmarks=[toy_eval]",
                                                     f"evaluate.paths={{toy_eval: {bench}}}"])
    rec = _Recorder()
    sr = SeedRun(recipe, rec, tmp_path, 0, None)
    ref = resolve_model(str(model), recipe)
    sr.evaluate(ref, tmp_path / "ev", "x")
    bench.write_text('{"id": "a", "question": "q", "answer": "999999"}\n')
    sr.evaluate(ref, tmp_path / "ev", "x")
    (model / "model.safetensors").write_bytes(b"v" * 100)
    ref2 = resolve_model(str(model), recipe)
    sr.evaluate(ref2, tmp_path / "ev", "x")
    keys = [k for _, k, _ in rec.calls]
    assert len(set(keys)) == 3 and ref.fingerprint != ref2.fingerprint and ref.path == ref2.path
    # the statistics-only change keeps the samples' carry key; the sampling change does not
    recipe2 = load_recipe("recipes/quickstart.yaml", [f"run.output_dir={tmp_path}", "evaluate.benchmarks=[toy_eval]",
                                                      f"evaluate.paths={{toy_eval: {bench}}}",
                                                      "evaluate.bootstrap_samples=500"])
    SeedRun(recipe2, rec, tmp_path, 0, None).evaluate(ref2, tmp_path / "ev", "x")
    assert rec.calls[-1][1] != rec.calls[-2][1] and rec.calls[-1][2] == rec.calls[-2][2]
