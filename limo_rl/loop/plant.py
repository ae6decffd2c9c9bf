"""A positive control for a family's instrument: a known effect planted into real outputs, then measured.

A finding that says "no detectable difference" is only worth its power. The family's power comes from
a formula (the MDE); this module checks it against the data the family actually has: it takes one
trained arm's graded samples (every seed), builds two pseudo-arms from them and compares each with the
original through the same procedure comparison the primary contrasts use
(:func:`limo_rl.evaluate.procedure.compare_procedures`):

* **null**: the arm's seeds rotated by one (seed s is paired with the model of seed s+1, cyclically).
  Both sides are the same procedure, and because the rotation is cyclic the mean of ``acc(s+1) - acc(s)``
  over seeds is exactly 0 (so its estimate is 0 by construction: what it shows is its interval, the
  instrument's noise with real seed-to-seed and problem variance, different trained models paired).
* **planted**: the rotated arm with a known effect added: in every seed, ``round(effect * n)`` of the
  problems it got wholly wrong (every sample incorrect) are made correct, chosen at random per seed.
  Its estimate is exactly ``effect`` (to the rounding of one problem), its noise the null's.

The plant is **detected** when its p-value clears the first step of Holm over the family's primary
contrasts plus this one (``alpha / (m + 1)``), the strictest bar any primary contrast faces, and its
interval is above 0; **recovered** when the interval covers the planted effect. With one seed the
rotation is the identity and the control says nothing about seed variance: it is refused.

Pure: standard library only (plus the procedure comparison).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from limo_rl.errors import UsageError
from limo_rl.evaluate.procedure import compare_procedures

DEFAULT_EFFECT = 0.03


def _rotated(by_seed: Mapping[int, Mapping[str, Sequence[float]]]) -> dict[int, dict[str, list[float]]]:
    seeds = sorted(by_seed)
    return {s: {i: list(v) for i, v in by_seed[seeds[(k + 1) % len(seeds)]].items()} for k, s in enumerate(seeds)}


def plant(by_seed: Mapping[int, Mapping[str, Sequence[float]]], effect: float, *, seed: int = 0
          ) -> dict[int, dict[str, list[float]]]:
    """Every seed's outputs with ``round(effect * n)`` wholly wrong problems made correct (all samples)."""
    out: dict[int, dict[str, list[float]]] = {}
    for s, problems in sorted(by_seed.items()):
        ids = sorted(problems)
        k = round(effect * len(ids))
        wrong = [i for i in ids if not any(float(x) > 0 for x in problems[i])]
        if k > len(wrong):
            raise UsageError(f"positive control: seed {s} has {len(wrong)} wholly wrong problems of {len(ids)}, "
                             f"fewer than the {k} a planted effect of {effect:.3f} needs: plant a smaller effect")
        flip = set(random.Random(f"{seed}:{s}").sample(wrong, k))
        out[s] = {i: [1.0] * len(v) if i in flip else [float(x) for x in v] for i, v in problems.items()}
    return out


def positive_control(by_seed: Mapping[int, Mapping[str, Sequence[float]]], *, label: str, benchmark: str,
                     effect: float = DEFAULT_EFFECT, n_primary: int = 1, alpha: float = 0.05, metric: str = "pass@1",
                     bootstrap_samples: int = 2000) -> dict[str, Any]:
    """The null and planted comparisons of one arm on one benchmark (module docstring)."""
    if not 0 < effect < 1:
        raise UsageError(f"positive control: the planted effect must be in (0, 1), got {effect}")
    if len(by_seed) < 2:
        raise UsageError(f"positive control on {label}: it needs 2 or more seeds (the null pairs seed s with the "
                         f"model of seed s+1); {len(by_seed)} given")
    common = set.intersection(*(set(p) for p in by_seed.values()))
    base = {s: {i: list(map(float, p[i])) for i in common} for s, p in by_seed.items()}
    rot = _rotated(base)
    planted = plant(rot, effect)
    kw = {"benchmark": benchmark, "metric": metric, "bootstrap_samples": bootstrap_samples}
    null = compare_procedures(rot, base, label_a=f"{label} (seeds rotated)", label_b=label, **kw)
    hit = compare_procedures(planted, base, label_a=f"{label} (seeds rotated, +{effect:.3f} planted)",
                             label_b=label, **kw)
    realised = sum(sum(v) / len(v) for p in planted.values() for v in p.values()) / (len(planted) * len(common)) \
        - sum(sum(v) / len(v) for p in rot.values() for v in p.values()) / (len(rot) * len(common))
    bar = alpha / (n_primary + 1)
    return {
        "arm": label, "benchmark": benchmark, "effect": effect, "effect_realised": realised,
        "n_seeds": len(base), "n_problems": len(common), "alpha_first_holm_step": bar,
        "null": null.to_dict(), "planted": hit.to_dict(),
        "detected": hit.p_value < bar and hit.ci_low > 0,
        "recovered": hit.ci_low <= realised <= hit.ci_high,
    }


def render(pc: Mapping[str, Any]) -> list[str]:
    """compare.md's lines for one positive control."""
    n, h = pc["null"], pc["planted"]
    mark = "detected" if pc["detected"] else "NOT detected"
    return [
        f"- **{pc['arm']}** on {pc['benchmark']} ({pc['n_seeds']} seeds x {pc['n_problems']} problems), planted "
        f"{pc['effect_realised']:+.3f}: measured {h['difference']:+.3f} [{h['ci_low']:+.3f}, {h['ci_high']:+.3f}], "
        f"p {h['p_value']:.3g} against the first Holm step {pc['alpha_first_holm_step']:.3g}: **{mark}**"
        f"{'' if pc['recovered'] else ' (interval misses the planted effect)'}; null (seeds rotated, nothing planted) "
        f"interval [{n['ci_low']:+.3f}, {n['ci_high']:+.3f}]; MDE at this design {h['mde']:.3f}",
    ]
