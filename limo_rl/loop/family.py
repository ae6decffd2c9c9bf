"""A family of runs answers one question: each variant against the base, paired, with what differs.

A researcher's question is a base recipe and its one-factor variants, each run with one or more
seeds. :func:`build_family` reads finished runs back (their resolved ``config.yaml``, each arm's
``samples.parquet`` and SFT set) and, for every variant, every trained arm both runs have and every
benchmark, compares the variant's arm with the base's on the same problems:

* **what differs**: the resolved recipe diff (dotted keys; names and output places left out);
* **what each trained on**: the share of the variant's SFT examples (by content, per seed) that the
  base's arm did not train on. An arm whose SFT sets are identical to the base's in every seed and
  whose training settings (``train.*``) are equal trained on the same inputs: it gets no verdict but a
  named warning ("same training data as <base>"), never a false null;
* **the verdict**: :func:`limo_rl.evaluate.procedure.compare_procedures`, so with two or more seeds
  per arm it is about the procedure (seeds x problems), with one about the checkpoints;
* **the family**: Holm runs over the declared primary contrasts only (``--primary`` and the members'
  ``compare.primary`` entries that name a family comparison: a variant name, an arm, ``variant:arm``
  or ``A vs B``, or two arms of one run, ``RUN:A vs RUN:B``, compared within that run and corrected
  with the rest); the other comparisons are descriptive (no adjusted p, no verdict beyond their
  interval), by :func:`limo_rl.evaluate.paired.decide_primary`, the rule a run's report uses. Without
  a declaration every comparison is in one Holm family, as a run's report does.
* **siblings that trained on the same data fail**: a variant whose every trained arm trained on the
  same inputs as the same sibling's (the base or another variant) is a failed ablation: its factor
  changed nothing at this scale. It is listed under ``failures`` (compare.md opens with it) and the
  commands exit 1.
* **benchmarks touched**: per run and arm, the test and dev benchmarks it was evaluated on (a variant
  not marked for confirmation, ``evaluate.confirm: false``, touches its dev benchmarks only).

Outputs (:func:`write_family`): ``compare.json`` (``comparisons`` rows in ``report.json``'s schema plus
``unit``, ``split``, ``primary``; ``variants`` with their diffs and SFT overlap; ``warnings``;
``failures``; ``benchmarks_touched``) and ``compare.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limo_rl.errors import UsageError
from limo_rl.evaluate.paired import PairedResult, PairingError, decide_primary
from limo_rl.evaluate.procedure import compare_procedures
from limo_rl.loop.comparisons import ArmSamples, collect_samples, touched_benchmarks
from limo_rl.loop.family_scores import arm_scores
from limo_rl.loop.family_scores import render as render_scores
from limo_rl.loop.plant import DEFAULT_EFFECT, positive_control
from limo_rl.loop.plant import render as render_plant
from limo_rl.run.artifacts import atomic_write_json, atomic_write_text
from limo_rl.run.layout import RunLayout, sft_file
from limo_rl.run.readers import read_eval_metrics

log = logging.getLogger(__name__)
# where a run goes, how it is reported and whether its test set is touched: not what it does
IGNORED_KEYS = ("run.name", "run.output_dir", "tracking.", "compare.", "evaluate.confirm")
ALPHA, POWER = 0.05, 0.8


@dataclass
class Member:
    """One finished run of the family."""

    name: str
    path: Path
    recipe: dict[str, Any]
    arms: dict[str, ArmSamples]
    sft: dict[str, dict[int, list[str]]]  # arm -> seed -> sorted fingerprints of its SFT examples
    splits: dict[str, str] = field(default_factory=dict)  # benchmark -> "dev" | "test"
    touched: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # arm -> split -> benchmarks


def _flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(doc, dict):
        out: dict[str, Any] = {}
        for k, v in doc.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: doc}


def recipe_diff(base: dict[str, Any], other: dict[str, Any]) -> dict[str, list[Any]]:
    """Dotted keys whose resolved values differ: key -> [base value, other value] (absent: None)."""
    fa, fb = _flatten(base), _flatten(other)
    keys = sorted(k for k in set(fa) | set(fb) if not k.startswith(IGNORED_KEYS) and fa.get(k) != fb.get(k))
    return {k: [fa.get(k), fb.get(k)] for k in keys}


def _fingerprint(example: dict[str, Any]) -> str:
    body = json.dumps(example.get("messages"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def read_sft_sets(path: Path) -> dict[str, dict[int, list[str]]]:
    """arm -> seed -> sorted content fingerprints of the examples that arm trained on."""
    layout, out = RunLayout(path), {}
    for seed in layout.seeds():
        for label, d in layout.arms(seed):
            f = sft_file(label, d)
            if f is None or not f.is_file():
                continue
            with open(f, encoding="utf-8") as fh:
                prints = sorted(_fingerprint(json.loads(line)) for line in fh if line.strip())
            out.setdefault(label, {})[seed] = prints
    return out


def load_member(path: str | Path) -> Member:
    import yaml

    path = Path(path)
    layout = RunLayout(path)
    if not layout.is_run():
        raise UsageError(f"{path}: not a limo-rl run directory (no {layout.config_path.name})")
    recipe = yaml.safe_load(layout.config_path.read_text()) or {}
    splits: dict[str, str] = {}
    for seed in layout.seeds():
        for ed in layout.eval_dirs(seed):
            if ed.metrics_path.is_file():
                splits.update({b: r.split for b, r in read_eval_metrics(ed.metrics_path).items()})
    name = str((recipe.get("run") or {}).get("name") or path.name)
    return Member(name, path, recipe, collect_samples(path), read_sft_sets(path), splits, touched_benchmarks(path))


def sft_difference(base: dict[int, list[str]], other: dict[int, list[str]]) -> float | None:
    """Share of ``other``'s examples (over the seeds both have) that ``base`` did not train on (multisets)."""
    from collections import Counter

    seeds = sorted(set(base) & set(other))
    total = sum(len(other[s]) for s in seeds)
    if not seeds or total == 0:
        return None
    new = 0
    for s in seeds:
        left = Counter(base[s])
        for fp in other[s]:
            if left[fp] > 0:
                left[fp] -= 1
            else:
                new += 1
    return new / total


def _same_inputs(base: Member, var: Member, arm: str, diff: dict[str, list[Any]]) -> bool:
    a, b = base.sft.get(arm), var.sft.get(arm)
    if not a or not b or set(a) != set(b) or any(a[s] != b[s] for s in a):
        return False
    return not any(k.startswith("train.") for k in diff)


def contrast_matches(r: PairedResult, contrast: str) -> bool:
    """A family's contrast: a variant name, an arm (every variant's), ``variant:arm`` or ``A vs B``."""
    variant, arm = r.a.split(":", 1)
    return contrast in (variant, arm, r.a, f"{r.a} vs {r.b}", f"{r.b} vs {r.a}")


def _failures(members: Sequence[Member]) -> list[dict[str, Any]]:
    """Pairs of siblings that trained the same arms, each on the same inputs: the later one failed. Siblings
    that differ only in how they are evaluated (``evaluate.*``) are not training ablations."""
    out: list[dict[str, Any]] = []
    failed: set[str] = set()
    for i, a in enumerate(members):
        for b in members[i + 1:]:
            diff = recipe_diff(a.recipe, b.recipe)
            arms = sorted(a.sft)
            if all(k.startswith("evaluate.") for k in diff) or not arms or set(arms) != set(b.sft):
                continue
            if b.name not in failed and all(_same_inputs(a, b, arm, diff) for arm in arms):
                failed.add(b.name)  # named once, against its first such sibling
                out.append({"variant": b.name, "sibling": a.name, "arms": arms, "diff": diff,
                            "error": "same training data as sibling"})
    return out


@dataclass
class Family:
    base: str
    comparisons: list[dict[str, Any]]
    variants: list[dict[str, Any]]
    warnings: list[str]
    primary: list[str]
    failures: list[dict[str, Any]] = field(default_factory=list)
    touched: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)  # run -> arm -> split
    primary_not_compared: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)  # runs whose recipe evaluated the test benchmarks
    positive_controls: list[dict[str, Any]] = field(default_factory=list)  # limo_rl.loop.plant
    scores: list[dict[str, Any]] = field(default_factory=list)  # every run's arms over seeds (family_scores)


def build_family(paths: Sequence[str | Path], *, base: str | Path | None = None, primary: Sequence[str] = (),
                 bootstrap_samples: int = 2000, plant: Sequence[str] = (), plant_effect: float = DEFAULT_EFFECT
                 ) -> Family:
    """Every variant against the base (module docstring); ``base`` defaults to the first run. ``plant``:
    arms (``RUN:ARM``) that carry a positive control, a planted effect of ``plant_effect``
    (:mod:`limo_rl.loop.plant`)."""
    members = [load_member(p) for p in paths]
    if len(members) < 2 and base is None:
        raise UsageError("a family needs at least two runs (a base and a variant)")
    base_m = load_member(base) if base is not None else members[0]
    variants = [m for m in members if m.path.resolve() != base_m.path.resolve()]
    names = [m.name for m in (base_m, *variants)]
    if len(set(names)) != len(names):
        raise UsageError(f"two runs of the family share a name ({names}): name them apart (run.name=...)")
    raw: list[tuple[PairedResult, str, str]] = []  # (result, variant name, split)
    rows_v, warnings = [], []
    for var in variants:
        diff = recipe_diff(base_m.recipe, var.recipe)
        trained = sorted(set(base_m.sft) & set(var.sft))
        overlap = {arm: sft_difference(base_m.sft[arm], var.sft[arm]) for arm in trained}
        same = [arm for arm in trained if _same_inputs(base_m, var, arm, diff)]
        for arm in same:
            warnings.append(f"{var.name}:{arm}: same training data as {base_m.name}:{arm} (identical SFT set in "
                            f"every seed, same train settings): no verdict; the factor did not change what was "
                            f"trained on at this scale")
        rows_v.append({"name": var.name, "path": str(var.path), "diff": diff, "sft_share_different": overlap,
                       "same_training_data": same})
        for arm in sorted(set(base_m.arms) & set(var.arms)):
            if arm in same or arm in ("base", "teacher"):
                continue
            for bench in sorted(set(_benches(base_m.arms[arm])) & set(_benches(var.arms[arm]))):
                a = {s: by.get(bench, {}) for s, by in var.arms[arm].by_seed.items()}
                b = {s: by.get(bench, {}) for s, by in base_m.arms[arm].by_seed.items()}
                metric = var.arms[arm].primary.get(bench) or "pass@1[avg of n]"
                try:
                    r = compare_procedures(a, b, label_a=f"{var.name}:{arm}", label_b=f"{base_m.name}:{arm}",
                                           benchmark=bench, metric=metric, bootstrap_samples=bootstrap_samples)
                except PairingError as exc:
                    warnings.append(f"{var.name}:{arm} on {bench}: not compared ({exc})")
                    continue
                raw.append((r, var.name, var.splits.get(bench, "test")))
    raw += _within_run(primary, [base_m, *variants], bootstrap_samples, warnings)
    declared = _declared(primary, [base_m, *variants], [r for r, _, _ in raw])
    decided, unmatched = decide_primary([r for r, _, _ in raw], declared, contrast_matches, alpha=ALPHA, power=POWER)
    warnings += [f"primary contrast {c!r}: no comparison of the family is one" for c in unmatched]
    rows = [{**d.to_dict(), "variant": v, "split": split} for d, (_, v, split) in zip(decided, raw, strict=True)]
    n_primary = sum(r["primary"] for r in rows) if declared else len(rows)
    return Family(base_m.name, rows, rows_v, warnings, declared, _failures([base_m, *variants]),
                  {m.name: m.touched for m in (base_m, *variants)}, unmatched,
                  [m.name for m in (base_m, *variants) if (m.recipe.get("evaluate") or {}).get("confirm", True)],
                  _planted(plant, [base_m, *variants], plant_effect, n_primary, bootstrap_samples),
                  arm_scores([base_m, *variants]))


def _planted(plant: Sequence[str], members: Sequence[Member], effect: float, n_primary: int,
             bootstrap_samples: int) -> list[dict[str, Any]]:
    """The positive controls asked for (``RUN:ARM``), on every benchmark that arm was graded on."""
    out = []
    for spec in plant:
        run, _, arm = spec.partition(":")
        m = next((m for m in members if m.name == run), None)
        if m is None or arm not in m.arms:
            have = sorted(f"{x.name}:{a}" for x in members for a in x.arms)
            raise UsageError(f"--plant {spec!r}: no such arm in the family (RUN:ARM, one of {have})")
        for bench in sorted(_benches(m.arms[arm])):
            by_seed = {s: by[bench] for s, by in m.arms[arm].by_seed.items() if bench in by}
            pc = positive_control(by_seed, label=spec, benchmark=bench, effect=effect, n_primary=n_primary,
                                  metric=m.arms[arm].primary.get(bench) or "pass@1[avg of n]",
                                  bootstrap_samples=bootstrap_samples)
            out.append({**pc, "split": m.splits.get(bench, "test")})
    return out


def _within(contrast: str, members: Sequence[Member]) -> tuple[Member, str, str] | None:
    """``RUN:A vs RUN:B`` (two arms of one member run, e.g. ``finding:loop/round2 vs finding:control/format_only``)
    -> (that member, A, B); None for any other contrast."""
    left, sep, right = contrast.partition(" vs ")
    run_a, _, a = left.partition(":")
    run_b, _, b = right.partition(":")
    if not sep or run_a != run_b or not a or not b:
        return None
    m = next((m for m in members if m.name == run_a), None)
    return (m, a, b) if m is not None and a in m.arms and b in m.arms else None


def _within_run(given: Sequence[str], members: Sequence[Member], bootstrap_samples: int,
                warnings: list[str]) -> list[tuple[PairedResult, str, str]]:
    """A primary contrast between two arms of one run (``RUN:A vs RUN:B``, given or in a member's
    ``compare.primary``) joins the family's Holm beside the variant-vs-base ones: a finding whose contrasts
    live in several runs (a control vs the loop in one, a selection variant vs its base across two) is
    corrected once, over all of them."""
    wanted = list(dict.fromkeys([*given, *(c for m in members for c in (m.recipe.get("compare") or {}).get("primary")
                                            or [])]))
    out: list[tuple[PairedResult, str, str]] = []
    for c in wanted:
        found = _within(c, members)
        if found is None:
            continue
        m, a, b = found
        for bench in sorted(_benches(m.arms[a]) & _benches(m.arms[b])):
            xa = {s: by.get(bench, {}) for s, by in m.arms[a].by_seed.items()}
            xb = {s: by.get(bench, {}) for s, by in m.arms[b].by_seed.items()}
            metric = m.arms[a].primary.get(bench) or "pass@1[avg of n]"
            try:
                r = compare_procedures(xa, xb, label_a=f"{m.name}:{a}", label_b=f"{m.name}:{b}", benchmark=bench,
                                       metric=metric, bootstrap_samples=bootstrap_samples)
            except PairingError as exc:
                warnings.append(f"{c} on {bench}: not compared ({exc})")
                continue
            out.append((r, m.name, m.splits.get(bench, "test")))
    return out


def _declared(given: Sequence[str], members: Sequence[Member], results: Sequence[PairedResult]) -> list[str]:
    """The family's primary contrasts: those given (``--primary``), then each member recipe's
    ``compare.primary`` entries that name a comparison of the family (a run-level ``loop/round2 vs static``
    names none and stays the run's own)."""
    out = list(dict.fromkeys(given))
    for m in members:
        for c in (m.recipe.get("compare") or {}).get("primary") or []:
            if c not in out and any(contrast_matches(r, c) for r in results):
                out.append(c)
    return out


def _benches(arm: ArmSamples) -> set[str]:
    return {b for by in arm.by_seed.values() for b in by}


def render_family(fam: Family) -> str:
    lines = [f"# Family: variants against {fam.base}", ""]
    for f in fam.failures:
        lines.append(f"> **FAIL {f['variant']}: same training data as {f['sibling']}** in every trained arm "
                     f"({', '.join(f['arms'])}): the factor ({', '.join(f['diff']) or 'nothing'}) did not change "
                     "what was trained on at this scale; fix the recipe (a budget below the supply, per_problem 1)")
    if fam.failures:
        lines.append("")
    if fam.warnings:
        lines += [f"> **{w}**" for w in fam.warnings] + [""]
    lines += ["| A | B | benchmark | split | A - B | 95% CI | unit | p | p (Holm) | MDE (Holm) | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in fam.comparisons:
        p_adj = "-" if c["p_adjusted"] is None else f"{c['p_adjusted']:.3g}"
        mde = "-" if c["mde_adjusted"] is None else f"{c['mde_adjusted']:.3f}"
        lines.append(f"| {c['a']} | {c['b']} | {c['benchmark']} | {c['split']} | {c['difference']:+.3f} | "
                     f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | {c['unit']} | {c['p_value']:.3g} | {p_adj} | "
                     f"{mde} | {c['verdict']} |")
    scope = (f"the {sum(c['primary'] for c in fam.comparisons)} primary contrasts ({', '.join(fam.primary)})"
             if fam.primary else f"all {len(fam.comparisons)} comparisons (no primary contrast declared)")
    lines += ["", f"Holm's correction runs over {scope}; \"A beats B\" only when the adjusted p is below {ALPHA}.", ""]
    if fam.positive_controls:
        lines += ["## Positive control: a planted effect", "", "One arm's own outputs, seeds rotated (a null with "
                  "real seed and problem noise) and a known effect planted, compared the way the primary contrasts "
                  "are (limo_rl.loop.plant):", ""]
        lines += [x for pc in fam.positive_controls for x in render_plant(pc)] + [""]
    if fam.scores:
        lines += ["## Every arm of every run", ""] + render_scores(fam.scores)
    lines += ["## What differs", ""]
    for v in fam.variants:
        diff = ", ".join(f"`{k}`: {a!r} -> {b!r}" for k, (a, b) in v["diff"].items()) or "nothing in the recipe"
        share = ", ".join(f"{arm} {s:.0%}" for arm, s in v["sft_share_different"].items() if s is not None) or "-"
        lines.append(f"- **{v['name']}**: {diff}; SFT examples not in the base's set: {share}")
    lines += ["", "## Benchmarks touched", "", f"Confirmed (test benchmarks evaluated): {', '.join(fam.confirmed) or 'none'}; "
              "the others were tuned and compared on their dev benchmarks only (evaluate.confirm: false).", "",
              "| run | arm | test | dev |", "|---|---|---|---|"]
    for run, arms in fam.touched.items():
        lines += [f"| {run} | {arm} | {', '.join(by['test']) or 'none (not confirmed)'} | {', '.join(by['dev']) or '-'} |"
                  for arm, by in arms.items()]
    return "\n".join(lines) + "\n"


def write_family(fam: Family, out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"base": fam.base, "primary": fam.primary, "decision_rule": {
        "alpha": ALPHA, "power": POWER, "correction": "holm over the primary contrasts (all when none declared)"},
        "comparisons": fam.comparisons, "variants": fam.variants, "warnings": fam.warnings,
        "failures": fam.failures, "benchmarks_touched": fam.touched, "confirmed": fam.confirmed,
        "primary_not_compared": fam.primary_not_compared, "positive_controls": fam.positive_controls, "scores": fam.scores}
    atomic_write_json(out / "compare.json", doc)
    atomic_write_text(out / "compare.md", render_family(fam))
    return out / "compare.md", out / "compare.json"
