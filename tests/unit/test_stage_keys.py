"""Each stage owns its cache key: the keys the loop computes for a fixed recipe are pinned (computed on main
before the keys moved into the stage packages), so existing runs' caches stay valid; and each stage's
``cache_inputs`` changes with the knobs that stage reads and not with the others."""

from __future__ import annotations

import json
from pathlib import Path

from limo_rl.config import load_recipe
from limo_rl.resolve import ModelRef
from limo_rl.run.artifacts import hash_obj

TEACHER = ModelRef("/models/teacher", "fp-teacher", "teacher")
BASE = ModelRef("/models/base", "fp-base", "base")


class _Recorder:
    """A stage runner that records each stage's key (``hash_obj`` of kind and inputs, as the runner hashes
    them) and the key of its carry, and runs nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        self.store = None

    def run(self, kind, d, inputs, fn, outputs, carry=None):
        self.calls.append((kind, hash_obj({"kind": kind, **inputs}), hash_obj(carry) if carry else None))
        return {"input_hash": "h"}


def _fixed_inputs(tmp: Path) -> dict[str, Path]:
    problems = tmp / "problems.jsonl"
    problems.write_text('{"id": "p0", "question": "1+1?", "answer": "2"}\n')
    marker = {"input_hash": "x", "outputs": {"chains": "c0ffee"}}
    for stage, out in (("generate", "chains"), ("verify", "verdicts")):
        (tmp / stage).mkdir()
        (tmp / stage / out).mkdir()
        (tmp / stage / "_STAGE_DONE.json").write_text(json.dumps({**marker, "outputs": {out: f"{out}-digest"}}))
    sft = tmp / "sft.jsonl"
    sft.write_text(json.dumps({"id": "e0", "messages": [{"role": "user", "content": "q"},
                                                        {"role": "assistant", "content": "a"}]}) + "\n")
    return {"problems": problems, "chains": tmp / "generate" / "chains", "verdicts": tmp / "verify" / "verdicts",
            "sft": sft}


def captured_keys(tmp: Path, overrides: list[str] | None = None) -> dict[str, tuple[str, str | None]]:
    """Every stage key of the loop for the quickstart recipe (with ``overrides``), on fixed inputs."""
    from limo_rl.loop.arms import SeedRun
    from limo_rl.loop.controls import control_data

    recipe = load_recipe("recipes/quickstart.yaml", [f"run.output_dir={tmp}", *(overrides or [])])
    f = _fixed_inputs(tmp)
    rec = _Recorder()
    sr = SeedRun(recipe, rec, tmp, 3, None)
    names = []

    def step(name, call):
        call()
        names.append(name)

    step("pool", sr.pool)
    step("generate", lambda: sr.generate(f["problems"], TEACHER, tmp / "g", 2))
    step("verify", lambda: sr.verify(f["problems"], f["chains"], tmp / "v", 2))
    step("select", lambda: sr.select(f["problems"], f["chains"], f["verdicts"], tmp / "s", TEACHER, 2))
    step("select_length", lambda: sr.select(f["problems"], f["chains"], f["verdicts"], tmp / "s", TEACHER, 2,
                                            student=BASE))
    step("static_data", lambda: sr.static_data(tmp / "sd"))
    step("train", lambda: sr.train([f["sft"]], BASE, tmp / "t", "loop/round2/seed3"))
    step("train_match", lambda: sr.train([f["sft"], f["sft"]], BASE, tmp / "t", "static/seed3",
                                         extra_inputs={"match": {"match": "size", "examples": 1}}))
    step("evaluate", lambda: sr.evaluate(TEACHER, tmp / "e", "loop/round2/seed3"))
    round_dir = tmp
    (tmp / "round").mkdir()
    for name in ("own_incorrect", "format_only", "terse_correct"):
        step(f"control_{name}", lambda name=name: control_data(sr, name, f["problems"], round_dir, [f["sft"]],
                                                               tmp / "c" / name))
    assert len(names) == len(rec.calls)
    return {n: (key, carry) for n, (_, key, carry) in zip(names, rec.calls, strict=True)}


PINNED: dict[str, dict[str, tuple[str, str | None]]] = {
 'file_based': {'control_format_only': ('702dc607bab83433f354ac53f9194741882a3d6d88826a1e348e7753872b1bb4', None),
                'control_own_incorrect': ('922383b01b32e93184f5f96c709e539f2782a9c2c327a7f0de94fd04ec9e7b81', None),
                'control_terse_correct': ('ced7d7466fd5a64834d150102333851a9682f02bcd810ebc56d99e2a0a3c04fb', None),
                'evaluate': ('27f8056283ce0b4ccde8b2b2d8ae8a487f84418caf5ebf55081882d3a29deb1b',
                             '57bdf93a8cb994a06cad5ddf6e382fc39c554488e2f3598fc78a63c0ce93160b'),
                'generate': ('f9b8ecfa7551285351ada4fcfde975713714a808de9ea858a0116e0614346be2', None),
                'pool': ('f284a9a0f21b4c026bd7b99efad9b98eed7baf281524026ddcb4f32260afa52a', None),
                'select': ('a864bea4ad0fc9374991ccf28a26d4c773bf2a1859f6aee7676285b23aa71255', None),
                'select_length': ('3120c435c8c5590d1dbd0dba431303373942c91f06009da5ab86f91932c5f5a6', None),
                'static_data': ('b966afbfff0d7fb58eec53f5c8678bedb5a4760879a1390e8624d6f36abe0bf0', None),
                'train': ('6ec2232cb909467b9e33ac61e1ce1c26316982c167056258ad22f7f873575e2c', None),
                'train_match': ('262e1d2a79819e041f27ec8621d4d081174220aa3187f84698bd28802e50d450', None),
                'verify': ('491be9198f4e158389d1114a0abed2cd25f7e7aa1b3fbadcfd1aa99137d960c0', None)},
 'quickstart': {'control_format_only': ('702dc607bab83433f354ac53f9194741882a3d6d88826a1e348e7753872b1bb4', None),
                'control_own_incorrect': ('922383b01b32e93184f5f96c709e539f2782a9c2c327a7f0de94fd04ec9e7b81', None),
                'control_terse_correct': ('ced7d7466fd5a64834d150102333851a9682f02bcd810ebc56d99e2a0a3c04fb', None),
                'evaluate': ('6390b222fd25d744eed33373e3407ae5943cc366a64bcafcd849af1fbf1b0417',
                             '856e998ba9b79f3c5457297a9a55d2c3f7dfd635bd1484208dbbf38b3488cde1'),
                'generate': ('f9b8ecfa7551285351ada4fcfde975713714a808de9ea858a0116e0614346be2', None),
                'pool': ('4d81b839d1270c2bf60144cad3fab1be386d80d7657c83037a0d618d075ce383', None),
                'select': ('ee24cba1b1db44f43782ceb6bd4c10fa609b7633721e21271ac17588182f977c', None),
                'select_length': ('2d3231323259cf5292e3acf33d068353bb974e604def0eed339533760ded345f', None),
                'static_data': ('a0ab30061efe45cd630adfe1216708470fe9736393ab8937a04810f4333097d4', None),
                'train': ('6ec2232cb909467b9e33ac61e1ce1c26316982c167056258ad22f7f873575e2c', None),
                'train_match': ('262e1d2a79819e041f27ec8621d4d081174220aa3187f84698bd28802e50d450', None),
                'verify': ('491be9198f4e158389d1114a0abed2cd25f7e7aa1b3fbadcfd1aa99137d960c0', None)}}


def test_pinned_keys(tmp_path):
    for variant, overrides in VARIANTS.items():
        d = tmp_path / variant
        d.mkdir()
        assert captured_keys(d, overrides) == PINNED[variant], variant


VARIANTS = {
    "quickstart": [],
    "file_based": ["evaluate.benchmarks=[math500]", "loop.static.source=limo", "pool.decontaminate.enabled=false",
                   "select.budget=17", "train.validation_file=null"],
}


if __name__ == "__main__":  # print the keys of this tree (how PINNED was made, on main before the move)
    import pprint
    import tempfile

    out = {}
    for variant, overrides in VARIANTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            out[variant] = captured_keys(Path(tmp), overrides)
    pprint.pprint(out, width=120)


# ------------------------------------------------------------------------------------------ one test per stage
def _recipe(tmp: Path, *overrides: str):
    return load_recipe("recipes/quickstart.yaml", [f"run.output_dir={tmp}", *overrides])


def _changes(fn, tmp: Path, reads: list[str], ignores: list[str]) -> None:
    """``fn(recipe)`` (a stage's key) changes with each override in ``reads`` and with none in ``ignores``."""
    base = hash_obj(fn(_recipe(tmp)))
    for o in reads:
        assert hash_obj(fn(_recipe(tmp, o))) != base, o
    for o in ignores:
        assert hash_obj(fn(_recipe(tmp, o))) == base, o


def test_pool_key(tmp_path):
    from limo_rl.data.keys import pool_cache_inputs

    _changes(pool_cache_inputs, tmp_path, ["pool.toy.n=301", "pool.decontaminate.ngram=12",
                                           "evaluate.dev_benchmarks=[toy_dev]", "toy.difficulty=3"],
             ["select.budget=17", "generate.temperature=0.5", "train.learning_rate=0.001",
              "evaluate.bootstrap_samples=7",
              "loop.static.match=steps"])
    # the world settings count only while a benchmark is generated by them
    no_world = ["evaluate.benchmarks=[math500]"]
    a, b = (pool_cache_inputs(_recipe(tmp_path, *no_world, *o)) for o in ([], ["toy.difficulty=3"]))
    assert a == b and "world" not in a


def test_static_set_key(tmp_path):
    from limo_rl.data.keys import static_cache_inputs

    _changes(static_cache_inputs, tmp_path, ["loop.static.limit=100", "generate.system_prompt=be brief",
                                             "pool.decontaminate.ngram=12", "toy.difficulty=3"],
             ["loop.static.match=steps", "loop.static.curve=[10]", "loop.static.match_seed=4", "select.budget=17",
              "generate.temperature=0.5", "train.learning_rate=0.001"])
    limo = ["loop.static.source=limo", "evaluate.benchmarks=[math500]"]
    a, b = (static_cache_inputs(_recipe(tmp_path, *limo, *o)) for o in ([], ["toy.difficulty=3"]))
    assert a == b and a["toy"] is None  # a static set that is no world's ignores the world


def test_generate_key(tmp_path):
    from limo_rl.generate import cache_inputs

    f = _fixed_inputs(tmp_path)
    key = lambda r, fp="t", rnd=1, seed=0: cache_inputs(r, fp, f["problems"], rnd, seed)  # noqa: E731
    _changes(key, tmp_path, ["generate.temperature=0.5", "generate.n=4", "generate.shard_size=10"],
             ["verify.mode=math_verify", "select.budget=17", "train.learning_rate=0.001", "evaluate.n=2",
              "toy.difficulty=3"])
    r = _recipe(tmp_path)
    assert len({hash_obj(key(r)), hash_obj(key(r, fp="u")), hash_obj(key(r, rnd=2)), hash_obj(key(r, seed=1))}) == 4
    before = hash_obj(key(r))
    f["problems"].write_text('{"id": "p0", "question": "1+1?", "answer": "3"}\n')
    assert hash_obj(key(r)) != before


def test_verify_key(tmp_path):
    from limo_rl.verify import cache_inputs

    f = _fixed_inputs(tmp_path)
    key = lambda r: cache_inputs(r, f["chains"], f["problems"])  # noqa: E731
    _changes(key, tmp_path, ["verify.mode=math_verify", "verify.timeout_s=9"],
             ["generate.temperature=0.5", "select.budget=17", "train.learning_rate=0.001", "evaluate.n=2"])
    before = hash_obj(key(_recipe(tmp_path)))
    (tmp_path / "generate" / "_STAGE_DONE.json").write_text(json.dumps({"outputs": {"chains": "other"}}))
    assert hash_obj(key(_recipe(tmp_path))) != before  # keyed by the chains' seal


def test_select_key(tmp_path):
    from limo_rl.select import cache_inputs

    f = _fixed_inputs(tmp_path)
    key = lambda r: cache_inputs(r, f["chains"], f["verdicts"], 0)  # noqa: E731
    with_length = lambda r: cache_inputs(r, f["chains"], f["verdicts"], 0, "tok")  # noqa: E731
    _changes(key, tmp_path, ["select.budget=17", "select.per_problem=2", "generate.system_prompt=be brief"],
             ["generate.temperature=0.5", "verify.mode=math_verify", "train.learning_rate=0.001",
              "train.max_length=1024", "evaluate.n=2"])
    _changes(with_length, tmp_path, ["train.max_length=1024", "select.budget=17"],
             ["train.learning_rate=0.001", "generate.temperature=0.5"])
    r = _recipe(tmp_path)
    assert hash_obj(key(r)) != hash_obj(cache_inputs(r, f["chains"], f["verdicts"], 1))
    assert hash_obj(with_length(r)) != hash_obj(cache_inputs(r, f["chains"], f["verdicts"], 0, "tok2"))


def test_control_set_key(tmp_path):
    from limo_rl.select import control_cache_inputs

    f = _fixed_inputs(tmp_path)

    def keys(r):
        return {n: hash_obj(control_cache_inputs(r, n, [f["sft"]], f["problems"], f["chains"], f["verdicts"], 0))
                for n in ("own_incorrect", "terse_correct", "format_only")}

    base = keys(_recipe(tmp_path))
    assert len(set(base.values())) == 3
    assert keys(_recipe(tmp_path, "select.budget=17", "train.learning_rate=0.001", "verify.mode=math_verify")) == base
    world = keys(_recipe(tmp_path, "toy.difficulty=3"))
    assert world["format_only"] != base["format_only"] and world["own_incorrect"] == base["own_incorrect"]
    (tmp_path / "verify" / "_STAGE_DONE.json").write_text(json.dumps({"outputs": {"verdicts": "other"}}))
    sealed = keys(_recipe(tmp_path))
    assert sealed["own_incorrect"] != base["own_incorrect"] and sealed["terse_correct"] == base["terse_correct"]


def test_train_key(tmp_path):
    from limo_rl.train import cache_inputs

    f = _fixed_inputs(tmp_path)
    key = lambda r: cache_inputs(r.train, "init", 0, [f["sft"]])  # noqa: E731
    _changes(key, tmp_path, ["train.learning_rate=0.001", "train.epochs=2", "train.max_length=1024"],
             ["generate.temperature=0.5", "select.budget=17", "verify.mode=math_verify", "evaluate.n=2",
              "toy.difficulty=3"])
    cfg = _recipe(tmp_path).train
    base = hash_obj(cache_inputs(cfg, "init", 0, [f["sft"]]))
    assert "sft_args" not in cache_inputs(cfg, "init", 0, [f["sft"]])["train"]  # keys of older runs still match
    assert len({base, hash_obj(cache_inputs(cfg, "other", 0, [f["sft"]])),
                hash_obj(cache_inputs(cfg, "init", 1, [f["sft"]])),
                hash_obj(cache_inputs(cfg, "init", 0, [f["sft"]], {"match": {"examples": 3}}))}) == 4
    f["sft"].write_text(f["sft"].read_text().replace('"a"', '"b"'))
    assert hash_obj(cache_inputs(cfg, "init", 0, [f["sft"]])) != base


def test_evaluate_key_and_carry(tmp_path):
    from limo_rl.evaluate import cache_carry, cache_inputs

    key = lambda r: cache_inputs(r, "model", 0)  # noqa: E731
    carry = lambda r: cache_carry(r, "model", 0)  # noqa: E731
    # the teacher's sampling is the protocol's business: generate.temperature/n/top_p/max_new_tokens/model are not read
    teacher = ["generate.temperature=0.5", "generate.n=4", "generate.top_p=0.9", "generate.max_new_tokens=100",
               "generate.model=toy://other"]
    others = ["select.budget=17", "train.learning_rate=0.001", "pool.toy.n=301"]
    _changes(key, tmp_path, ["evaluate.n=2", "evaluate.bootstrap_samples=7", "verify.mode=math_verify",
                             "generate.batch_size=3", "toy.difficulty=3"], [*teacher, *others])
    # samples are kept when only grading or statistics change
    _changes(carry, tmp_path, ["evaluate.n=2", "generate.batch_size=3", "toy.difficulty=3"],
             [*teacher, *others, "evaluate.bootstrap_samples=7", "verify.mode=math_verify", "evaluate.ci_level=0.9"])
    r = _recipe(tmp_path)
    assert hash_obj(key(r)) != hash_obj(cache_inputs(r, "other", 0)) != hash_obj(cache_inputs(r, "other", 1))
    assert set(carry(r)) == {"toy_eval/generate", "toy_eval/verify"}
    files = ["evaluate.benchmarks=[math500]"]  # no generated benchmark: the world settings are not read
    assert key(_recipe(tmp_path, *files)) == key(_recipe(tmp_path, *files, "toy.difficulty=3"))
