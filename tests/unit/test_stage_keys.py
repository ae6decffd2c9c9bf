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


PINNED: dict[str, dict[str, tuple[str, str | None]]] = {'file_based': {'control_format_only': ('702dc607bab83433f354ac53f9194741882a3d6d88826a1e348e7753872b1bb4', None),
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
