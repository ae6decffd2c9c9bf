"""The family's positive control (limo_rl.loop.plant): a known effect planted into an arm's real outputs,
seeds rotated so the pairing carries real seed noise; detected when it clears the first Holm step."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from limo_rl.errors import UsageError
from limo_rl.loop.family import build_family, write_family
from limo_rl.loop.plant import plant, positive_control
from tests.unit.test_family import make_run


def arm(seeds=8, problems=600, seed_sd=0.03, base=0.3, rng_seed=1):
    """Binary greedy outcomes: a per-problem difficulty plus a per-seed shift (a procedure with seed noise)."""
    rng = random.Random(rng_seed)
    difficulty = [rng.gauss(0, 0.25) for _ in range(problems)]
    out = {}
    for s in range(seeds):
        shift = rng.gauss(0, seed_sd)
        out[s] = {f"q{i}": [1.0 if rng.random() < min(1, max(0, base + shift + difficulty[i])) else 0.0]
                  for i in range(problems)}
    return out


def test_plant_flips_exactly_the_planted_share_of_wholly_wrong_problems():
    a = arm(seeds=3, problems=200)
    p = plant(a, 0.05)
    for s in a:
        flipped = [i for i in a[s] if a[s][i] != p[s][i]]
        assert len(flipped) == 10  # round(0.05 * 200)
        assert all(a[s][i] == [0.0] and p[s][i] == [1.0] for i in flipped)
    assert plant(a, 0.05) == p  # deterministic


def test_a_planted_effect_of_a_few_points_is_detected_and_recovered():
    pc = positive_control(arm(seed_sd=0.01), label="run:loop/round2", benchmark="b", effect=0.03, n_primary=4)
    assert pc["effect_realised"] == pytest.approx(18 / 600)
    assert pc["null"]["difference"] == pytest.approx(0.0, abs=1e-12)  # cyclic rotation: exactly 0
    assert pc["null"]["ci_high"] > 0.005  # the null carries real noise (different models paired)
    assert pc["planted"]["difference"] == pytest.approx(pc["effect_realised"])
    assert pc["detected"] and pc["recovered"]
    assert pc["alpha_first_holm_step"] == pytest.approx(0.01)


def test_seed_noise_is_in_the_interval():
    """The same plant on a procedure whose seeds matter (SD 0.03 per seed): recovered but not detected at 8
    seeds, the MDE above the plant; the rotation pairs different models, so seed noise cannot cancel."""
    pc = positive_control(arm(seed_sd=0.03), label="r:a", benchmark="b", effect=0.03, n_primary=4)
    assert pc["recovered"] and not pc["detected"]
    quiet = positive_control(arm(seed_sd=0.01), label="r:a", benchmark="b", effect=0.03, n_primary=4)
    assert pc["planted"]["mde"] > quiet["planted"]["mde"] and pc["planted"]["mde"] > 0.03


def test_a_tiny_plant_on_a_noisy_small_design_is_not_detected():
    pc = positive_control(arm(seeds=3, problems=100, seed_sd=0.08), label="r:a", benchmark="b", effect=0.01,
                          n_primary=4)
    assert not pc["detected"]
    assert pc["planted"]["mde"] > 0.01


def test_the_positive_control_refuses_one_seed_and_an_impossible_effect():
    with pytest.raises(UsageError, match="2 or more seeds"):
        positive_control(arm(seeds=1), label="r:a", benchmark="b")
    with pytest.raises(UsageError, match="in \\(0, 1\\)"):
        positive_control(arm(seeds=2), label="r:a", benchmark="b", effect=0)
    solved = {s: {f"q{i}": [1.0] for i in range(50)} for s in range(2)}
    with pytest.raises(UsageError, match="wholly wrong problems"):
        positive_control(solved, label="r:a", benchmark="b", effect=0.1)


def test_the_family_report_carries_the_positive_control(tmp_path):
    a = make_run(tmp_path, "qa", [], solved_loop=30, solved_static=40, sft_loop=["a", "b"], seeds=(0, 1, 2))
    b = make_run(tmp_path, "qb", ["select.per_problem=1"], solved_loop=60, solved_static=40, sft_loop=["c"],
                 seeds=(0, 1, 2))
    fam = build_family([a, b], primary=["qb"], plant=["qa:loop/round1"], plant_effect=0.05)
    (pc,) = fam.positive_controls
    assert pc["arm"] == "qa:loop/round1" and pc["benchmark"] == "toy_eval" and pc["n_seeds"] == 3
    assert pc["planted"]["difference"] == pytest.approx(6 / 120)
    md, js = write_family(fam, tmp_path / "fam")
    assert "Positive control" in md.read_text() and '"positive_controls"' in js.read_text()
    with pytest.raises(UsageError, match="no such arm"):
        build_family([a, b], plant=["qa:control/nope"])
    res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "compare", str(a), str(b), "--out",
                          str(tmp_path / "fam2"), "--plant", "qa:loop/round1", "--plant-effect", "0.05"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "planted" in res.stdout
