"""Chain ranking strategies: a small name -> function table, one line of logic each.

Only correct, finished chains reach a strategy (see :mod:`limo_rl.select.select`). Each
strategy maps a chain's features to a base score; ``select.weights`` then adds
``weight * feature`` for any named feature, so "density plus a little length" is a recipe
line, not new code. Higher is better.

* ``limo_rules``: the verifier's LIMO rule-based quality score (paper v3: elaboration 30%,
  self-verification 20%, exploration 25%, granularity 25%; ``Verdict.score``);
* ``verification_density``: how often the chain checks its own work (``Verdict.verification_density``);
* ``correct_random``: uniform in [0, 1) from a seed derived from (seed, problem id, sample index);
* ``shortest_correct`` / ``longest_correct``: minus / plus the chain's token count.

Ties are broken by a declared rule (``chain_hash`` or ``sample_index``) so that a
selection is reproducible to the example. Pure core: standard library only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from limo_rl.run.artifacts import derive_seed
from limo_rl.types import Chain, Verdict

BASE_FEATURES = ("score", "verification_density", "arithmetic_consistency", "n_tokens", "length_chars")


def features(chain: Chain, verdict: Verdict) -> dict[str, float]:
    """Numeric features of one chain; the verifier's ``quality`` entries are included by name."""
    out = {str(k): float(v) for k, v in (verdict.quality or {}).items() if isinstance(v, (int, float))}
    out.update({
        "score": float(verdict.score),
        "verification_density": float(verdict.verification_density),
        "arithmetic_consistency": float(verdict.arithmetic_consistency or 0.0),
        "n_tokens": float(chain.n_tokens),
        "length_chars": float(len(chain.text)),
    })
    return out


def process_consistent(verdict: Verdict) -> bool:
    """The chain's final attempt holds: every false step it wrote was caught by a check and redone.

    Judged on the final attempt, like the toy world's :func:`limo_rl.toy.chains.process_consistent`: an
    error that a later check finds and a corrected step replaces is verification that mattered, not an
    inconsistency; a false equality the chain never catches (or a check that asserts one) is. Verdicts
    graded before the ``uncaught_false`` count existed fall back to the strict rule (no false equality
    anywhere, no false check)."""
    quality = verdict.quality or {}
    if "uncaught_false" in quality:
        return float(quality["uncaught_false"]) == 0
    if verdict.arithmetic_consistency is not None and verdict.arithmetic_consistency < 1.0:
        return False
    if float(quality.get("false_checks", 0.0)) > 0:
        return False
    return not any(s.kind == "false" for s in verdict.verification_steps)


def _random(chain: Chain, f: Mapping[str, float], seed: int) -> float:
    return derive_seed(seed, 0, chain.problem_id, chain.sample_index) / 2**31


Strategy = Callable[[Chain, Mapping[str, float], int], float]
STRATEGIES: dict[str, Strategy] = {
    "limo_rules": lambda c, f, s: f["score"],
    "verification_density": lambda c, f, s: f["verification_density"],
    "correct_random": _random,
    "shortest_correct": lambda c, f, s: -f["n_tokens"],
    "longest_correct": lambda c, f, s: f["n_tokens"],
}


def check_weights(weights: Mapping[str, float], available: set[str]) -> None:
    """Every weighted feature must exist on the candidates; raise ValueError naming the bad ones."""
    bad = sorted(set(weights) - available)
    if bad:
        raise ValueError(f"select.weights names unknown feature(s) {bad}; known: {', '.join(sorted(available))}")


def score_chain(strategy: str, chain: Chain, feats: Mapping[str, float], weights: Mapping[str, float],
                seed: int) -> float:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown select.strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    base = STRATEGIES[strategy](chain, feats, seed)
    return base + sum(w * feats.get(name, 0.0) for name, w in weights.items())


def tie_key(chain: Chain, rule: str) -> Any:
    """The declared tie-break among equal scores (smaller first)."""
    if rule == "sample_index":
        return (chain.sample_index, chain.problem_id)
    digest = hashlib.sha256(f"{chain.problem_id}\x1f{chain.sample_index}\x1f{chain.text}".encode()).hexdigest()
    return (digest, chain.problem_id, chain.sample_index)
