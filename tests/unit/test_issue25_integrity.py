"""Issue 25: nothing sealed that was not produced. Edited shards are never carried or resumed into a seal
(cases 1, 3), set-aside shard folders never come back and are cleaned (case 9)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from limo_rl.config import VerifyConfig
from limo_rl.generate.shards import plan_shards, read_shard, shard_is_complete, write_shard
from limo_rl.loop.cache import StageRunner
from limo_rl.run import artifacts as A
from limo_rl.run.produced import record_of, trusted
from limo_rl.types import Chain, Problem
from limo_rl.verify.stage import grade_chains, grade_shards, read_verdicts, verdict_summary

GOLD = {f"p{i}": str(2 * i) for i in range(4)}


def _chains(pids, n=2) -> list[Chain]:  # sample 0 right, sample 1 wrong
    return [Chain(problem_id=pid, sample_index=j, round=1, teacher="t", engine="hf", seed=j, prompt_hash="h",
                  text=f"so \\boxed{{{GOLD[pid] if j == 0 else -1}}}", n_tokens=5, finish_reason="stop")
            for pid in pids for j in range(n)]


def _tamper_parquet(path: Path) -> None:
    """What a user does with pyarrow: every row's text rewritten to the gold answer; schema metadata kept."""
    table = pq.read_table(path)
    rows = table.to_pylist()
    for r in rows:
        r["text"] = f"\\boxed{{{GOLD[r['problem_id']]}}}"
    pq.write_table(table.from_pylist(rows, schema=table.schema), path)


def _runner(tmp_path) -> StageRunner:
    return StageRunner(tmp_path, A.Manifest(tmp_path / "manifest.json"))


# ------------------------------------------------------------------------------------------ producer records
def test_a_shard_is_resumed_only_as_its_writer_wrote_it(tmp_path):
    [plan] = plan_shards({pid: "h" for pid in GOLD}, 4, "spec")
    path = write_shard(tmp_path / plan.name, _chains(sorted(GOLD)), {"shard_key": plan.key})
    assert trusted(path) and shard_is_complete(path, plan, 2)
    _tamper_parquet(path)  # same key, same row count: the old check passed it
    assert not trusted(path) and not shard_is_complete(path, plan, 2)
    record_of(path).unlink()  # a shard nobody vouched for
    assert not shard_is_complete(path, plan, 2)


# ------------------------------------------------------------------------------------------ case 1: carry
def _evaluate_fn(calls):
    """A stand-in for the harness: resumes chain shards the way run_generation does, then 'grades' them."""
    def fn(out: Path):
        chains_dir = out / "bench" / "generate" / "chains"
        chains_dir.mkdir(parents=True, exist_ok=True)
        [plan] = plan_shards({pid: "h" for pid in GOLD}, 4, "spec")
        if not shard_is_complete(chains_dir / plan.name, plan, 2):
            calls.append("generate")
            write_shard(chains_dir / plan.name, _chains(sorted(GOLD)), {"shard_key": plan.key})
        rows = read_shard(chains_dir / plan.name)
        acc = sum(r.text.endswith(f"{{{GOLD[r.problem_id]}}}") for r in rows) / len(rows)
        A.atomic_write_json(out / "metrics.json", {"pass@1": acc})
        return {"pass@1": acc}
    return fn


def test_edited_evaluation_chains_are_not_laundered_through_the_carry(tmp_path):
    """Case 1: edit every chain of a sealed evaluation, rerun with only a statistics setting changed:
    the edited shard stays aside, the chains are made again, the metrics are the untampered ones."""
    d, calls = tmp_path / "evaluate", []
    carry = {"bench/generate": {"model": "m"}}
    first = _runner(tmp_path).run("evaluate", d, {"bootstrap": 1000}, _evaluate_fn(calls), ["metrics.json", "bench"],
                                  carry=carry)
    assert first["metrics"]["pass@1"] == 0.5 and calls == ["generate"]
    [shard] = (d / "bench" / "generate" / "chains").glob("shard-*.parquet")
    original = A.hash_file(shard)
    for stale_inside in (d / "bench" / "generate" / "chains" / ".stale" / "old",  # as runs before the one naming
                         d / "bench" / "generate" / "chains" / "stale-unknown-1796600000"):
        stale_inside.mkdir(parents=True)
        (stale_inside / "shard-00000-x.parquet").write_bytes(b"old shard set aside by the stage")
    (stale_inside / "_SET_ASIDE.json").write_text('{"reason": "shards of another generation spec or pool"}')
    _tamper_parquet(shard)
    second = _runner(tmp_path).run("evaluate", d, {"bootstrap": 400}, _evaluate_fn(calls), ["metrics.json", "bench"],
                                   carry=carry)
    assert calls == ["generate", "generate"]  # regenerated, not carried
    assert second["metrics"]["pass@1"] == 0.5 and A.hash_file(shard) == original
    assert not (d / "bench" / "generate" / "chains" / ".stale").exists()  # case 9: set-asides never come back
    assert not list((d / "bench" / "generate" / "chains").glob("stale-*"))
    [entry] = json.loads((tmp_path / "manifest.json").read_text())["set_aside"]
    kept = Path(entry["path"]) / "bench" / "generate" / "chains" / shard.name
    assert A.hash_file(kept) != original  # the edit is kept aside, not deleted
    third = _runner(tmp_path).run("evaluate", d, {"bootstrap": 400}, _evaluate_fn(calls), ["metrics.json", "bench"],
                                  carry=carry)
    assert third["metrics"]["pass@1"] == 0.5 and calls == ["generate", "generate"]


def test_intact_carry_is_reused_even_when_sealed_before_records_existed(tmp_path):
    d, calls = tmp_path / "evaluate", []
    carry = {"bench/generate": {"model": "m"}}
    _runner(tmp_path).run("evaluate", d, {"bootstrap": 1000}, _evaluate_fn(calls), ["metrics.json", "bench"],
                          carry=carry)
    [shard] = (d / "bench" / "generate" / "chains").glob("shard-*.parquet")
    record_of(shard).unlink()  # a run sealed by an older limo_rl: its seal vouches for the shard
    _runner(tmp_path).run("evaluate", d, {"bootstrap": 400}, _evaluate_fn(calls), ["metrics.json", "bench"],
                          carry=carry)
    assert calls == ["generate"] and trusted(shard)


# ------------------------------------------------------------------------------------------ case 3: no marker
def _write_chains(tmp_path) -> Path:
    chains_dir = tmp_path / "chains"
    write_shard(chains_dir / "shard-00000-a.parquet", _chains(["p0", "p1"]))
    write_shard(chains_dir / "shard-00001-b.parquet", _chains(["p2", "p3"]))
    return chains_dir


def test_deleting_the_verify_marker_does_not_reseal_edited_verdicts(tmp_path):
    """Case 3: verdict shards edited to correct: true, the stage marker deleted, the stage rerun:
    the edited shards are set aside and graded again; the seal holds the true accuracy."""
    chains_dir = _write_chains(tmp_path)
    d = tmp_path / "verify"

    def fn(out: Path):
        return grade_shards(chains_dir, GOLD, VerifyConfig(workers=1), out / "verdicts")

    first = _runner(tmp_path).run("verify", d, {"v": 1}, fn, ["verdicts"])
    assert first["metrics"]["accuracy"] == 0.5
    for f in (d / "verdicts").glob("shard-*.jsonl"):
        f.write_text("".join(json.dumps({**json.loads(x), "correct": True}) + "\n" for x in f.read_text().splitlines()))
    (d / A.STAGE_MARKER).unlink()
    second = _runner(tmp_path).run("verify", d, {"v": 1}, fn, ["verdicts"])
    assert second["metrics"]["accuracy"] == 0.5 and second["outputs"] == first["outputs"]
    assert len(list((d / "verdicts").glob("stale-*/shard-*.jsonl"))) == 2


def test_edited_appended_verdicts_are_set_aside_and_regraded(tmp_path):
    """The evaluation's one-file form: an edited row makes the whole file untrusted (kept aside)."""
    problems = {pid: Problem(pid, "q", gold) for pid, gold in GOLD.items()}
    chains = _chains(sorted(GOLD))
    out = tmp_path / "verdicts.jsonl"
    grade_chains(chains, problems, VerifyConfig(workers=1), out)
    truth = verdict_summary(out)
    out.write_text("".join(json.dumps({**json.loads(x), "correct": True}) + "\n" for x in out.read_text().splitlines()))
    assert verdict_summary(out)["accuracy"] == 1.0
    grade_chains(chains, problems, VerifyConfig(workers=1), out)
    assert verdict_summary(out) == truth and len(read_verdicts(out)) == len(chains)
    [kept] = list(tmp_path.glob("stale-*/verdicts.jsonl"))
    assert "does not match" in json.loads((kept.parent / "_SET_ASIDE.json").read_text())["reason"]


def test_evaluation_grades_are_set_aside_by_the_stage_cache(tmp_path):
    """The evaluation's grade cache goes through the stage cache: grades of another verify config, or a sealed
    file edited afterwards, are set aside as ``verify/stale-*/verdicts.jsonl`` and graded again."""
    from limo_rl.evaluate.harness import _grade_cached
    from limo_rl.run.stagecache import SET_ASIDE_RECORD

    problems = [Problem(pid, "q", gold) for pid, gold in GOLD.items()]
    chains, chains_dir, verify = _chains(sorted(GOLD)), tmp_path / "chains", tmp_path / "verify"
    chains_dir.mkdir()
    (chains_dir / "planted.txt").write_text("stands in for the shards")
    truth = _grade_cached(chains, problems, VerifyConfig(workers=1), "number", chains_dir, verify)
    _grade_cached(chains, problems, VerifyConfig(workers=1, timeout_s=9), "number", chains_dir, verify)
    [changed] = list(verify.glob("stale-*"))
    assert json.loads((changed / SET_ASIDE_RECORD).read_text())["reason"] == "inputs changed"
    path = verify / "verdicts.jsonl"
    path.write_text(path.read_text().replace('"correct": false', '"correct": true'))
    again = _grade_cached(chains, problems, VerifyConfig(workers=1, timeout_s=9), "number", chains_dir, verify)
    assert again == truth and len(list(verify.glob("stale-*/verdicts.jsonl"))) == 2
    assert [p.name for p in verify.glob(".verdicts.jsonl.*")] == [record_of(path).name]  # no other naming


# ------------------------------------------------------------------------------------------ case 9: clean
def test_clean_removes_shard_set_asides_inside_stage_folders(tmp_path):
    """The namings of runs made before the one naming (``.stale/``, ``.verdicts.jsonl.<why>-<time>``)."""
    from limo_rl.loop.clean import clean_run

    A.Manifest(tmp_path / "manifest.json").save()
    chains = tmp_path / "seed0" / "evaluate" / "toy_eval" / "generate" / "chains"
    write_shard(chains / "shard-00000-a.parquet", _chains(["p0"]))
    (chains / ".stale" / "20261207").mkdir(parents=True)
    (chains / ".stale" / "20261207" / "shard-00000-old.parquet").write_bytes(b"x" * 100)
    kept = tmp_path / "seed0" / "evaluate" / "toy_eval" / "verify" / ".verdicts.jsonl.untrusted-1796600000"
    kept.parent.mkdir(parents=True)
    kept.write_text("{}\n")
    dry = clean_run(tmp_path, dry_run=True, clusters=False)
    assert sorted(dry.removed) == sorted([str(chains / ".stale"), str(kept)]) and kept.exists()
    rep = clean_run(tmp_path, clusters=False)
    assert rep.freed_bytes >= 103 and not (chains / ".stale").exists() and not kept.exists()
    assert trusted(chains / "shard-00000-a.parquet")  # live shards and their records stay


def test_every_set_aside_has_one_naming_and_clean_removes_it(tmp_path):
    """Stage, shard and verdicts-file set-asides are all ``stale-<key>-<time>/`` folders with their record,
    made by the stage cache; clean removes each once (listed or not), and leaves a look-alike without record."""
    from limo_rl.generate.shards import set_aside_stale
    from limo_rl.loop.clean import clean_run
    from limo_rl.run.hashing import file_manifest
    from limo_rl.run.stagecache import SET_ASIDE_RECORD, STALE_PREFIX

    ev = tmp_path / "seed0" / "evaluate"
    _runner(tmp_path).run("evaluate", ev, {"v": 1}, lambda out: (out / "m.json").write_text("1") and {}, ["m.json"])
    _runner(tmp_path).run("evaluate", ev, {"v": 2}, lambda out: (out / "m.json").write_text("2") and {}, ["m.json"])
    chains = ev / "toy_eval" / "generate" / "chains"
    write_shard(chains / "shard-00000-a.parquet", _chains(["p0"]))
    write_shard(chains / "shard-00001-old.parquet", _chains(["p1"]))
    set_aside_stale(chains, keep={"shard-00000-a.parquet"})
    problems = {pid: Problem(pid, "q", gold) for pid, gold in GOLD.items()}
    out = ev / "toy_eval" / "verify" / "verdicts.jsonl"
    grade_chains(_chains(["p0"]), problems, VerifyConfig(workers=1), out)
    out.write_text(out.read_text().replace('"correct": false', '"correct": true'))
    grade_chains(_chains(["p0"]), problems, VerifyConfig(workers=1), out)
    made = sorted(p for p in tmp_path.rglob(f"{STALE_PREFIX}*") if p.is_dir())
    assert [p.parent for p in made] == sorted([ev, chains, out.parent])
    assert all((p / SET_ASIDE_RECORD).is_file() for p in made)
    assert set(file_manifest(chains)) == {"shard-00000-a.parquet"}  # set-asides are no part of a seal or key
    look_alike = chains / f"{STALE_PREFIX}mine"
    look_alike.mkdir()
    dry = clean_run(tmp_path, dry_run=True, clusters=False)
    assert sorted(dry.removed) == [str(p) for p in made] and all(p.exists() for p in made)
    rep = clean_run(tmp_path, clusters=False)
    assert sorted(rep.removed) == [str(p) for p in made] and not any(p.exists() for p in made)
    assert look_alike.exists() and trusted(chains / "shard-00000-a.parquet") and (ev / "m.json").read_text() == "2"
    assert json.loads((tmp_path / "manifest.json").read_text())["set_aside"] == []


# ------------------------------------------------------------------------------------------ case 4: umask
def test_weights_and_checkpoints_follow_the_umask(tmp_path):
    """safetensors 0.8 writes 0600: the tiny model and a checkpoint saved through the training callback
    come out with the umask's mode (0644 under 022), like every other file of a run."""
    from limo_rl.toy.model import make_tiny_model
    from limo_rl.train.runner import _make_callbacks

    old = os.umask(0o022)
    try:
        model = make_tiny_model(tmp_path / "tiny", seed=0)
        ckpt = tmp_path / "train" / "checkpoints" / "checkpoint-1"
        ckpt.mkdir(parents=True)
        (ckpt / "model.safetensors").write_bytes(b"w")
        os.chmod(ckpt / "model.safetensors", 0o600)
        (ckpt / "trainer_state.json").write_text("{}")
        [cb] = _make_callbacks(tmp_path / "train", 0, 0)
        cb.on_save(SimpleNamespace(output_dir=str(ckpt.parent)), SimpleNamespace(global_step=1, epoch=1.0), None)
    finally:
        os.umask(old)
    weights = list(Path(model).rglob("*.safetensors"))
    assert weights and {f.stat().st_mode & 0o777 for f in weights} == {0o644}
    assert {f.stat().st_mode & 0o777 for f in ckpt.iterdir()} == {0o644}


# ------------------------------------------------------------------------------------------ case 8: lr 0
def _train(**kw):
    from limo_rl.config import TrainConfig

    return TrainConfig(**kw).model_dump(mode="json")


def test_schedule_mirrors_transformers():
    """The learning-rate factors match transformers' own schedules step by step."""
    import torch
    from transformers import get_scheduler

    from limo_rl.train.schedule import schedule

    for name in ("cosine", "linear", "constant", "constant_with_warmup"):
        for rows, ratio in ((1, 0.05), (40, 0.05), (200, 0.3), (40, 0.0)):
            cfg = _train(lr_scheduler=name, warmup_ratio=ratio, per_device_batch_size=4, num_workers=2, epochs=2)
            s = schedule(rows, cfg)
            opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
            sch = get_scheduler(name, opt, num_warmup_steps=s.warmup, num_training_steps=s.steps)
            got = []
            for _ in range(s.steps):
                got.append(opt.param_groups[0]["lr"])
                opt.step()
                sch.step()
            assert got == [pytest.approx(s.factor(i)) for i in range(s.steps)], (name, rows, ratio)


def test_a_run_whose_every_step_has_lr_zero_is_refused():
    """Case 8: 1 optimizer step with warmup_ratio 0.05 trains nothing: refused, saying why."""
    from limo_rl.errors import RecipeError
    from limo_rl.train.schedule import check_schedule

    quick = dict(epochs=1, warmup_ratio=0.05, per_device_batch_size=16, num_workers=2, learning_rate=1e-4)
    with pytest.raises(RecipeError) as err:
        check_schedule(20, _train(**quick))
    msg = str(err.value)
    assert "every optimizer step would have learning rate 0" in msg and "1 optimizer step" in msg
    assert "1 warmup step" in msg and "warmup_ratio" in msg
    with pytest.raises(RecipeError):
        check_schedule(64, _train(**quick, max_steps=1))
    with pytest.raises(RecipeError):  # packing can only make fewer steps
        check_schedule(20, _train(**quick), packing=True)
    assert check_schedule(20, _train(**{**quick, "warmup_ratio": 0.0})).steps == 1
    assert check_schedule(20, _train(**{**quick, "lr_scheduler": "constant"})).steps == 1
    assert check_schedule(33, _train(**quick)).zero_steps() == 1  # 2 steps: the second one trains


def test_train_refuses_before_any_compute(tmp_path, monkeypatch):
    """Through run_training: the refusal comes before Ray starts or anything is written."""
    from limo_rl.config import TrainConfig
    from limo_rl.errors import RecipeError
    from limo_rl.resolve import ModelRef
    from limo_rl.train import launcher
    from limo_rl.types import SFTExample

    def boom(*a, **k):
        raise AssertionError("launched")

    monkeypatch.setattr(launcher, "_launch", boom)
    monkeypatch.setattr(launcher, "drop_over_length", lambda exs, *a: (list(exs), []))
    exs = [SFTExample.from_dict({"id": f"e{i}", "messages": [{"role": "user", "content": "1+1?"},
                                                             {"role": "assistant", "content": "\\boxed{2}"}]})
           for i in range(8)]
    cfg = TrainConfig(epochs=1, warmup_ratio=0.05, per_device_batch_size=16, num_workers=1, validation_split=0)
    with pytest.raises(RecipeError, match="learning rate 0"):
        launcher.run_training(exs, ModelRef(str(tmp_path), "f", "m"), cfg, tmp_path / "train")
    assert not (tmp_path / "train").exists()


# ------------------------------------------------------------------------------------------ case 6: YAML
def _alias_bomb(levels: int = 9) -> str:
    lines = ["x: &a [" + ", ".join(['"lol"'] * 9) + "]"]
    for i in range(1, levels):
        lines.append(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i > 1 else "*a"] * 9) + "]")
    return "\n".join(lines) + f"\nselect:\n  budget: *a{levels - 1}\n"


def test_alias_bomb_as_a_value_is_reported_at_once(tmp_path):
    """Case 6: 9**9 strings behind aliases: the error shows a bounded excerpt, in well under a second."""
    import time

    from limo_rl.config import RecipeError, load_recipe

    f = tmp_path / "bomb.yaml"
    f.write_text(_alias_bomb())
    t0 = time.perf_counter()
    with pytest.raises(RecipeError) as err:
        load_recipe(f)
    assert time.perf_counter() - t0 < 5
    line = next(x for x in str(err.value).splitlines() if "select.budget" in x)
    assert "valid integer" in line and len(line) < 200


def test_deeply_nested_values_are_one_line_errors(tmp_path, capsys):
    from limo_rl.cli import main
    from limo_rl.config import RecipeError, load_recipe

    f = tmp_path / "deep.yaml"
    f.write_text("select:\n  budget: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(RecipeError, match="nested too deeply"):
        load_recipe(f)
    with pytest.raises(RecipeError, match="nested too deeply"):
        load_recipe("recipes/quickstart.yaml", ["select.budget=" + "[" * 100_000 + "]" * 100_000])
    assert main(["config", "validate", str(f)]) == 1
    assert "nested too deeply" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ case 7: no tracebacks
def test_stage_failures_are_one_line_errors_in_recipe_mode(monkeypatch, capsys):
    """A GenerationError (a server answering 401) and a TrainError are messages, exit 2, no traceback."""
    import limo_rl.cli as cli
    from limo_rl.cli import main
    from limo_rl.generate.driver import GenerationError
    from limo_rl.train.launcher import TrainError

    for err in (GenerationError("1 of 1 shard(s) kept failing: HTTP 401 invalid api key"),
                TrainError("training in /x failed: rank 0: OSError: [Errno 28] No space left on device")):
        def boom(*a, err=err, **k):
            raise err
        monkeypatch.setattr(cli, "run_recipe", boom)
        assert main(["generate", "recipes/quickstart.yaml"]) == 2
        out = capsys.readouterr().err
        assert out.startswith("limo-rl: error: ") and "Traceback" not in out and str(err) in out
    assert isinstance(GenerationError("x"), RuntimeError)  # still a failed computation for its callers


def test_disk_full_is_one_line(monkeypatch, capsys):
    import errno

    import limo_rl.cli as cli

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/seed0/train/model")
    monkeypatch.setattr(cli, "run_recipe", full)
    assert cli.main(["train", "recipes/quickstart.yaml"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_train_failure_summary_keeps_each_ranks_reason():
    from limo_rl.train.launcher import failure_summary

    class FakeWorkerGroupError(Exception):
        def __init__(self):
            super().__init__("Training failed due to worker errors:\n" + "Traceback ...\n  File x\n" * 10)
            self.worker_failures = {r: RuntimeError("Traceback (most recent call last):\n  File \"t.py\", line 1\n"
                                                    "OSError: [Errno 28] No space left on device: 'ckpt'")
                                    for r in (0, 1)}

    line = failure_summary(FakeWorkerGroupError())
    assert line == "rank 0,1: OSError: [Errno 28] No space left on device: 'ckpt'"


def test_disk_full_during_a_stage_leaves_a_manifest_that_says_failed(tmp_path, monkeypatch):
    """The stage's own error propagates (not the manifest's ENOSPC) and the manifest says failed: the space
    reserved at the run's start takes the record."""
    import errno

    m = A.Manifest.start(tmp_path / "manifest.json", ["limo-rl", "run"], {}, "h")
    reserve = tmp_path / ".manifest.json.reserve"
    assert reserve.stat().st_size >= 1 << 20
    real = A.atomic_write_bytes

    def disk(path, data, **kw):  # full while the reserve holds its space
        if reserve.exists():
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, **kw)

    def train(out):  # the disk fills while the stage writes its weights
        monkeypatch.setattr(A, "atomic_write_bytes", disk)
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "model.safetensors"))

    runner = StageRunner(tmp_path, m)
    with pytest.raises(OSError) as err:
        runner.run("train", tmp_path / "train", {"a": 1}, train, ["model"])
    assert "model.safetensors" in str(err.value)
    entry = json.loads((tmp_path / "manifest.json").read_text())["stages"]["train"]
    assert entry["status"] == "failed" and "No space left" in entry["error"] and not reserve.exists()


def test_decontaminate_out_equal_to_pool_is_refused(tmp_path, capsys):
    from limo_rl.cli import main

    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"id": "a", "question": "What is 1+1?", "answer": "2"}\n')
    code = main(["decontaminate", "--pool", str(pool), "--benchmarks", "toy_eval", "--out", str(pool)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "--out" in err and "expected a folder" in err
    (tmp_path / "problems.jsonl").write_text(pool.read_text())
    code = main(["decontaminate", "--pool", str(tmp_path / "problems.jsonl"), "--benchmarks", "toy_eval",
                 "--out", str(tmp_path)])
    assert code == 2 and "is the --pool file itself" in capsys.readouterr().err


def test_a_booting_grading_worker_whose_grader_left_exits_quietly():
    """BrokenPipeError on SIGTERM: the grader is gone before the worker says it is ready."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "limo_rl.verify._worker", "1024"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    proc.stdout.close()  # the reading end gone, as when the grader dies during the warm-up
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err.decode() and proc.returncode == 0


# ------------------------------------------------------------------------------------------ case 9: report
def test_report_of_a_live_run_is_refused_and_an_unfinished_one_is_marked(tmp_path, capsys):
    import subprocess
    import sys

    from limo_rl.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("run: {name: run}\n")
    A.Manifest.start(run / "manifest.json", ["limo-rl", "run"], {}, "h")  # started, never ended
    code = (f"from limo_rl.run.lock import acquire; import time; acquire({str(run)!r}, ['limo-rl', 'run']); "
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["report", str(run)]) == 2
        assert "being written" in capsys.readouterr().err and not (run / "report.md").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(["report", str(run)]) == 0  # the writer is gone (killed): a report, marked as partial
    assert "Run not finished" in (run / "report.md").read_text()
    assert json.loads((run / "report.json").read_text())["run_status"].startswith("started and not ended")
    m = A.Manifest(run / "manifest.json")
    m.finish("finished")
    assert main(["report", str(run)]) == 0 and "Run not finished" not in (run / "report.md").read_text()


def test_adhoc_evaluate_with_a_bad_benchmark_file_builds_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from limo_rl.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "question": "q"}\n')
    assert main(["evaluate", "--model", "toy://base", "--benchmark-file", "toy_eval=bad.jsonl"]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]  # no ./runs/eval, no toy model


def test_an_answer_beyond_the_parsers_depth_is_an_error_not_wrong():
    """Case 9: \\boxed{1+1+...+1} with 4,999 terms was graded incorrect with status ok."""
    from limo_rl.verify.grade import Grader

    with Grader(VerifyConfig(workers=1)) as g:
        big, small, bad = g.grade_many([
            ("so \\boxed{" + "+".join(["1"] * 4999) + "}", "4999"),
            ("so \\boxed{" + "+".join(["1"] * 10) + "}", "10"),
            ("so \\boxed{x+}", "3"),  # unparseable content stays a wrong answer
        ])
    # never a silent 'ok': 'error' (beyond the parser's depth), or 'timeout' on a machine too loaded to finish
    assert big.status in ("error", "timeout") and not big.correct
    assert small.status == "ok" and small.correct
    assert bad.status == "ok" and not bad.correct


def test_an_edited_student_is_not_reported_as_trained(tmp_path):
    """Case 3 for training: the stage marker deleted and the weights edited: launcher's 'already finished'
    holds only while the model hashes to the digest its training recorded."""
    from limo_rl.train.launcher import _finished
    from limo_rl.train.runner import METRICS_FILE

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"w" * 64)
    A.atomic_write_json(tmp_path / METRICS_FILE, {"input_hash": "h", "model_digest": A.hash_path(model)})
    assert _finished(tmp_path, "h")["model_digest"] == A.hash_path(model)
    (model / "model.safetensors").write_bytes(b"v" * 64)
    assert _finished(tmp_path, "h") is None
    assert not model.exists() and len(list(tmp_path.glob("stale-*/model/model.safetensors"))) == 1


def test_run_generation_sets_an_edited_shard_aside_and_makes_it_again(tmp_path, monkeypatch):
    """Case 3 for generate (the marker deleted, a chain shard edited): the driver regenerates that shard only."""
    from limo_rl.config import GenerateConfig
    from limo_rl.generate import driver

    made: list[str] = []

    def fake_pool(todo, requests, seeds, cfg, model, chains_dir, *, round, teacher, spec, **kw):
        for plan in todo:
            made.append(plan.name)
            rows = [Chain(problem_id=pid, sample_index=j, round=round, teacher=teacher, engine="fake",
                          seed=seeds[pid][j], prompt_hash="h", text=f"\\boxed{{{j}}}", n_tokens=3,
                          finish_reason="stop") for pid in plan.problem_ids for j in range(cfg.n)]
            write_shard(chains_dir / plan.name, rows, {"shard_key": plan.key, "spec_hash": spec})
        return 0, 0.0, "fake", []

    monkeypatch.setattr(driver, "_run_pool", fake_pool)
    problems = [Problem(f"p{i}", f"What is {i}+{i}?", str(2 * i)) for i in range(4)]
    cfg = GenerateConfig(n=2, shard_size=2)
    driver.run_generation(problems, cfg, "m", tmp_path)
    first = {p.name: A.hash_file(p) for p in (tmp_path / "chains").glob("shard-*.parquet")}
    assert len(made) == 2
    victim = sorted(first)[1]
    _tamper_parquet_rows(tmp_path / "chains" / victim)
    made.clear()
    driver.run_generation(problems, cfg, "m", tmp_path)
    assert made == [victim]
    assert {p.name: A.hash_file(p) for p in (tmp_path / "chains").glob("shard-*.parquet")} == first
    assert [p.name for p in (tmp_path / "chains").glob("stale-*/*.parquet")] == [victim]


def _tamper_parquet_rows(path: Path) -> None:
    table = pq.read_table(path)
    rows = [{**r, "text": "\\boxed{2}"} for r in table.to_pylist()]
    pq.write_table(table.from_pylist(rows, schema=table.schema), path)
