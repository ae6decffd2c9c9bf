"""A stage in a few words for the console: where it runs (arm, round, seed) and its figures.

``seed0/loop/round1/generate`` reads ``loop · round 1 · seed 0``; a generate stage's figures read
``1,600 chains, 7,312 tok/s, truncated 2%``. :mod:`limo_rl.console.progress` prints them on the
stage's live line and on its permanent line.

Pure core: standard library and the run layout only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from limo_rl.run.layout import DATA, stage_key_parts


def stage_place(key: str) -> str:
    """``seed0/loop/round1/generate`` -> ``loop · round 1 · seed 0``."""
    arm, rnd, seed = stage_key_parts(key)
    bits = [" ".join(arm)] if arm else []
    if rnd is not None:
        bits.append(f"round {rnd}")
    if seed is not None:
        bits.append(f"seed {seed}")
    return " · ".join(bits)


def stage_name(kind: str, key: str) -> str:
    """The stage's name as its folder says (the static arm's data step is cached as a select stage)."""
    last = key.rsplit("/", 1)[-1]
    return last if last == DATA else kind


def _num(v: float) -> str:
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


_FIGURES: dict[str, tuple[tuple[str, str], ...]] = {
    "pool": (("problems", "{} problems"),),
    "generate": (("chains", "{} chains"), ("tokens_per_s", "{} tok/s"), ("truncation_rate", "truncated {:.0%}")),
    "verify": (("chains", "{} chains"), ("accuracy", "correct {:.1%}"),
               ("mean_verification_density", "density {:.2f}")),
    "select": (("n_selected", "{} selected"), ("n_examples", "{} examples")),
    "train": (("global_step", "{} steps"), ("train_loss", "loss {:.3f}"), ("eval_loss", "val loss {:.3f}"),
              ("tokens_per_s", "{} tok/s")),
}


def summarize(kind: str, figures: Mapping[str, Any]) -> str:
    """A stage's figures in a few words (evaluate: ``<benchmark> <metric> <value>``)."""
    out = []
    for key, fmt in _FIGURES.get(kind, ()):
        v = figures.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(fmt.format(_num(v)) if fmt.startswith("{}") else fmt.format(v))
    if kind == "generate" and figures.get("dropped_over_window"):
        out.append(f"{_num(figures['dropped_over_window'])} problem(s) dropped (prompt beyond the window)")
    if kind == "evaluate":
        for key, v in figures.items():
            if "/" in key and isinstance(v, (int, float)):
                bench, metric = key.split("/", 1)
                out.append(f"{bench} {metric} {v:.1%}")
    return ", ".join(out)
