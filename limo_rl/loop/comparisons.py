"""The report's paired comparisons and what each arm trained on, read back from a run directory.

Input: the per-sample file each evaluation writes (``evaluate/samples.parquet``: benchmark,
problem_id, sample_index, correct), never the rounded metrics, so the differences can be
recomputed by anyone from the same files. Pairs compared (each on every benchmark the run
evaluates as a test set; dev benchmarks are for choices, not verdicts):

* each loop round vs ``base``, vs the previous round, vs ``static``;
* ``static`` vs ``base``;
* the last loop round and ``static`` vs ``teacher`` when the teacher is a different model;
* the last loop round vs each control arm (``control/<name>``, :mod:`limo_rl.loop.controls`), and the
  controls one factor apart (``control/gold_verified`` vs ``control/gold_steps``, ``control/window`` vs
  ``control/random``: :data:`limo_rl.select.controls.CONTROL_REFERENCES`).

Seeds: with one seed shared by both arms of a pair, the comparison is of these two checkpoints
(:mod:`limo_rl.evaluate.paired`, problems resampled); with two or more, of the two procedures
(:mod:`limo_rl.evaluate.procedure`: seeds x problems, a t interval and test that carry the
seed-to-seed variance). ``unit`` in ``report.json`` says which. Holm's correction runs over every
comparison of the report, or, when the recipe declares primary contrasts (``compare.primary``, e.g.
``loop/round2 vs static``), over those only; the others are descriptive
(:func:`limo_rl.evaluate.paired.decide_primary`).

Benchmarks touched: per arm, which test and dev benchmarks it was evaluated on (a run with
``evaluate.confirm: false`` touches its dev benchmarks only).

Comparability: per arm (and seed) the examples it trained on, optimizer steps, training
tokens, epochs, examples dropped for exceeding ``train.max_length``, the checkpoint rule and,
for the loop, whether the selection budget bound. A banner flags arms whose examples or
steps differ by more than :data:`MISMATCH` (10%).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.evaluate.paired import PairedResult, decide_primary
from limo_rl.evaluate.procedure import compare_procedures
from limo_rl.run.layout import MATCH, METRICS, STAGE_STATS, RunLayout, loop_arm, loop_round, stage_dir
from limo_rl.run.readers import read_eval_metrics, read_json, read_samples, read_train_figures
from limo_rl.select.controls import CONTROL_REFERENCES

log = logging.getLogger(__name__)
MISMATCH = 0.10
Correctness = dict[str, list[float]]  # problem id -> correctness of each sample (0/1)


def arm_dirs(run_dir: Path) -> Iterator[tuple[int, str, Path]]:
    """(seed, arm label, arm folder) of every arm present (:meth:`RunLayout.arms`)."""
    layout = RunLayout(Path(run_dir))
    for seed in layout.seeds():
        for label, d in layout.arms(seed):
            yield seed, label, d


def _primary(eval_dir: Path) -> dict[str, str]:
    path = eval_dir / METRICS
    if not path.is_file():
        return {}
    return {b: r.primary for b, r in read_eval_metrics(path).items() if r.primary}


@dataclass
class ArmSamples:
    by_seed: dict[int, dict[str, Correctness]]  # seed -> benchmark -> problem -> samples
    primary: dict[str, str]  # benchmark -> metric name


def collect_samples(run_dir: Path) -> dict[str, ArmSamples]:
    """Every arm's per-sample correctness, by seed and benchmark."""
    arms: dict[str, ArmSamples] = {}
    for seed, label, d in arm_dirs(run_dir):
        samples = read_samples(stage_dir(d, "evaluate"))
        if not samples:
            continue
        arm = arms.setdefault(label, ArmSamples({}, {}))
        arm.by_seed[seed] = samples
        arm.primary.update(_primary(stage_dir(d, "evaluate")))
    return arms


def comparison_pairs(labels: Sequence[str]) -> list[tuple[str, str]]:
    """The (a, b) pairs of a report, a the newer or trained arm."""
    rounds = sorted(r for x in labels if (r := loop_round(x)) is not None)
    have = set(labels)
    pairs: list[tuple[str, str]] = []
    for r in rounds:
        me = loop_arm(r)
        if "base" in have:
            pairs.append((me, "base"))
        if loop_arm(r - 1) in have:
            pairs.append((me, loop_arm(r - 1)))
        if "static" in have:
            pairs.append((me, "static"))
    if {"static", "base"} <= have:
        pairs.append(("static", "base"))
    if "teacher" in have:
        if rounds:
            pairs.append((loop_arm(rounds[-1]), "teacher"))
        if "static" in have:
            pairs.append(("static", "teacher"))
    if rounds:  # what the loop's set bought over each control built from its last round (loop.controls)
        pairs += [(loop_arm(rounds[-1]), c) for c in sorted(x for x in labels if x.startswith("control/"))]
    # controls one factor apart (a true check vs none, the window's problems vs random ones)
    pairs += [(f"control/{c}", f"control/{ref}") for c, ref in CONTROL_REFERENCES.items()
              if {f"control/{c}", f"control/{ref}"} <= have]
    return pairs


def _pooled(arm: ArmSamples, seeds: Sequence[int], bench: str) -> Correctness:
    out: Correctness = {}
    for s in seeds:
        for pid, xs in arm.by_seed[s].get(bench, {}).items():
            out.setdefault(pid, []).extend(xs)
    return out


def contrast_matches(r: PairedResult, contrast: str) -> bool:
    """A run's contrast is ``A vs B`` (arm labels, either order)."""
    return contrast in (f"{r.a} vs {r.b}", f"{r.b} vs {r.a}")


def build_comparisons(
    run_dir: Path, *, dev_benchmarks: Sequence[str] = (), primary: Sequence[str] = (), alpha: float = 0.05,
    power: float = 0.8, bootstrap_samples: int = 2000, level: float = 0.95, seed: int = 0,
) -> tuple[list[PairedResult], list[str]]:
    """Every paired comparison of the run (test benchmarks only), Holm-adjusted over the primary contrasts
    (all without a declaration), verdicts attached; and the declared contrasts no comparison matched."""
    arms = collect_samples(Path(run_dir))
    raw: list[PairedResult] = []
    for a, b in comparison_pairs(list(arms)):
        seeds = sorted(set(arms[a].by_seed) & set(arms[b].by_seed))
        benches = sorted({bn for s in seeds for bn in arms[a].by_seed[s]} & {bn for s in seeds for bn in arms[b].by_seed[s]})
        for bench in benches:
            if bench in dev_benchmarks:
                continue
            sa, sb = _common_problems(arms[a], arms[b], seeds, bench, f"{a} vs {b} on {bench}")
            if not sa:
                continue
            ma, mb = arms[a].primary.get(bench), arms[b].primary.get(bench)
            metric = ma if ma == mb and ma else "pass@1[avg of n]"
            raw.append(compare_procedures(sa, sb, label_a=a, label_b=b, benchmark=bench, metric=metric,
                                          bootstrap_samples=bootstrap_samples, level=level, alpha=alpha,
                                          power=power, seed=seed))
    return decide_primary(raw, primary, contrast_matches, alpha=alpha, power=power)


def touched_benchmarks(run_dir: Path) -> dict[str, dict[str, list[str]]]:
    """Per arm, the benchmarks it was evaluated on, by split: ``{"test": [...], "dev": [...]}``."""
    out: dict[str, dict[str, set[str]]] = {}
    for _, label, d in arm_dirs(Path(run_dir)):
        path = stage_dir(d, "evaluate") / METRICS
        if path.is_file():
            by = out.setdefault(label, {"test": set(), "dev": set()})
            for bench, res in read_eval_metrics(path).items():
                by["dev" if res.split == "dev" else "test"].add(bench)
    return {arm: {k: sorted(v) for k, v in by.items()} for arm, by in out.items()}


def render_touched(touched: dict[str, dict[str, list[str]]]) -> list[str]:
    """One row per arm: the test and dev benchmarks it was evaluated on."""
    if not touched:
        return []
    lines = ["### Benchmarks touched", "", "| arm | test | dev |", "|---|---|---|"]
    lines += [f"| {arm} | {', '.join(by['test']) or 'none (not confirmed)'} | {', '.join(by['dev']) or '-'} |"
              for arm, by in touched.items()]
    return [*lines, ""]


def _common_problems(a: ArmSamples, b: ArmSamples, seeds: Sequence[int], bench: str,
                     what: str) -> tuple[dict[int, Correctness], dict[int, Correctness]]:
    """Both arms' samples by seed on the problems both graded in every shared seed (e.g. a different
    ``evaluate.limit`` between reruns leaves some out, with a warning); empty when none are shared."""
    sa = {s: a.by_seed[s].get(bench, {}) for s in seeds}
    sb = {s: b.by_seed[s].get(bench, {}) for s in seeds}
    every = [set(x) for x in (*sa.values(), *sb.values())]
    common = set.intersection(*every) if every else set()
    left_out = set.union(*every) - common if every else set()
    if left_out and common:
        log.warning("%s: %d problems graded for only one arm or seed are left out", what, len(left_out))
    if not common:
        return {}, {}
    return ({s: {p: sa[s][p] for p in common} for s in seeds}, {s: {p: sb[s][p] for p in common} for s in seeds})


# ---------------------------------------------------------------------------------------- what each arm trained on
def arm_training(run_dir: Path) -> list[dict[str, Any]]:
    """Per trained arm and seed: examples, steps, tokens, epochs, dropped rows, checkpoint rule, budget bind."""
    out = []
    for seed, label, d in arm_dirs(Path(run_dir)):
        if label in ("base", "teacher"):
            continue
        t = read_train_figures(stage_dir(d, "train"))
        row: dict[str, Any] = {
            "arm": label, "seed": seed, "examples": t.examples, "validation_examples": t.validation_examples,
            "steps": t.steps, "epochs": t.epochs, "tokens": t.tokens, "dropped_over_length": t.dropped_over_length,
            "unfinished_excluded": None, "checkpoint": t.checkpoint, "trained": t.trained,
        }
        sel = read_json(stage_dir(d, "select") / STAGE_STATS)
        if sel is not None:
            budget_step = next((s for s in sel.get("steps", []) if s.get("step") == "budget"), {})
            row["budget"] = budget_step.get("budget")
            row["available"] = budget_step.get("kept", 0) + budget_step.get("removed", 0)
            row["budget_bound"] = bool(budget_step.get("removed", 0))
            chains = next((s for s in sel.get("steps", []) if s.get("step") == "chains"), {})
            row["unfinished_excluded"] = (chains.get("excluded") or {}).get("truncated", 0)
        match = read_json(d / MATCH)
        if match is not None:
            row.update({k: match[k] for k in ("available", "match", "match_target", "draw_seed", "loop_round",
                                              "on_loop_problems", "from_other_problems", "shortfall", "problems",
                                              "eligible_problems") if k in match})
        out.append(row)
    return out


def mismatch_banner(training: Sequence[dict[str, Any]], tol: float = MISMATCH) -> list[str]:
    """One line per (seed, pair of trained arms) whose examples or steps differ by more than ``tol``."""
    lines = []
    by_seed: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in training:
        by_seed[row["seed"]].append(row)
    for seed, rows in sorted(by_seed.items()):
        loops = [r for r in rows if loop_round(r["arm"]) is not None]
        for r in rows:  # a control against the loop round it was built from
            if r["arm"].startswith("control/") and loops and _gap(r, loops[-1], "examples") > tol:
                lines.append(f"seed {seed}: {r['arm']} trained on {r.get('examples')} examples, {loops[-1]['arm']} "
                             f"on {loops[-1].get('examples')} ({_gap(r, loops[-1], 'examples'):.0%} apart).")
        static = next((r for r in rows if r["arm"] == "static"), None)
        if static is None:
            continue
        for r in rows:
            if r is static or r["arm"].startswith(("static/", "control/")):  # curve points differ on purpose
                continue
            gaps = {}
            for key in ("examples", "steps"):
                x, y = float(r.get(key) or 0), float(static.get(key) or 0)
                if max(x, y) > 0 and abs(x - y) / max(x, y) > tol:
                    gaps[key] = abs(x - y) / max(x, y)
            if gaps:
                lines.append(f"seed {seed}: {r['arm']} trained on {r.get('examples')} examples in {r.get('steps')} "
                             f"steps, static on {static.get('examples')} in {static.get('steps')} ("
                             + ", ".join(f"{k} {g:.0%} apart" for k, g in gaps.items())
                             + "): the comparison mixes data size with data choice (loop.static.match: size or "
                             "steps matches them).")
    return lines


def _gap(a: dict[str, Any], b: dict[str, Any], key: str) -> float:
    x, y = float(a.get(key) or 0), float(b.get(key) or 0)
    return abs(x - y) / max(x, y) if max(x, y) > 0 else 0.0


# ---------------------------------------------------------------------------------------- rendering
def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:+.{digits}f}" if digits < 0 else f"{x:.{digits}f}"
    return str(x)


def holm_scope(results: Sequence[PairedResult], primary: Sequence[str], unmatched: Sequence[str]) -> str:
    """What Holm's correction ran over, in words (the report's decision rule)."""
    m = sum(r.primary for r in results)
    if not primary:
        return f"over all {len(results)} comparisons of this report; no primary contrast declared (compare.primary)"
    missing = f"; declared but not compared: {', '.join(unmatched)}" if unmatched else ""
    return (f"over the {m} comparisons of the declared primary contrasts ({', '.join(primary)}){missing}; the other "
            f"{len(results) - m} are descriptive (interval and unadjusted p, no decision)")


def render_verdicts(results: Sequence[PairedResult], training: Sequence[dict[str, Any]], *,
                    alpha: float = 0.05, power: float = 0.8, primary: Sequence[str] = (),
                    unmatched: Sequence[str] = (), confirmed: bool = True) -> list[str]:
    """The report's opening section: verdict table, decision rule, comparability table and banner."""
    lines = ["## Verdicts", ""]
    m = max(sum(r.primary for r in results), 1)
    banner = mismatch_banner(training)
    if banner:
        lines += ["> **Arms are not matched.** " + " ".join(banner[:1]), *[f"> {b}" for b in banner[1:]], ""]
    if results:
        lines += [
            "| A | B | benchmark | metric | A - B | 95% paired CI | test | p | p (Holm) | MDE (Holm) | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results:
            lines.append(
                f"| {r.a} | {r.b} | {r.benchmark} | `{r.metric}` | {r.difference:+.3f} | "
                f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}] | {r.test} | {r.p_value:.3g} | "
                f"{'-' if r.p_adjusted is None else f'{r.p_adjusted:.3g}'} | "
                f"{_f(r.mde_adjusted, 3)} | {r.verdict} |")
        n = sorted({r.n_problems for r in results})
        seeds = sorted({r.n_seeds or 1 for r in results})
        lines += [
            "",
            f"Decision rule: \"A beats B\" only when the Holm-adjusted p-value ({holm_scope(results, primary, unmatched)}) "
            f"is below {alpha}; otherwise \"no detectable difference\" with the smallest difference "
            f"detectable at this size at Holm's strictest level (alpha / {m}, alpha {alpha} two-sided, power "
            f"{power}; n = {', '.join(map(str, n))} problems). ",
            *([] if seeds != [1] else [
                "With one seed these verdicts compare **checkpoints** (these trained students), not procedures: "
                "rerun with more seeds (run.seeds) for a claim about the training procedure. MDE = "
                "max(k s_d / sqrt(n), k^2 / (n + k^2)), k = z(1 - alpha/2) + z(power), s_d the SD of the "
                "per-problem differences; CI: percentile bootstrap over problems; test: exact McNemar (one sample "
                "per problem) or a sign-flip permutation test on per-problem differences. "]),
            *([] if max(seeds) < 2 else [
                f"Comparisons over {', '.join(map(str, (x for x in seeds if x > 1)))} seeds compare **procedures** "
                "(test seed_problem_t: cells seed x problem, a t interval and test whose variance carries the "
                "seed-to-seed variance, limo_rl.evaluate.procedure); MDE = (t(1 - alpha/2) + t(power)) x its "
                "standard error, at its Satterthwaite degrees of freedom. "]),
            "Differences are paired per problem (every sample of a problem together). Recomputable from each "
            "evaluation's samples.parquet (report.json holds every figure).",
            "",
        ]
    elif not confirmed:
        lines += ["No verdicts: this run was not confirmed (evaluate.confirm: false), so no arm touched a test "
                  "benchmark; its dev benchmarks are for choices (a family report compares variants on them).", ""]
    else:
        lines += ["No two arms were evaluated on the same problems: nothing to compare.", ""]
    if training:
        lines += ["### What each arm trained on", "",
                  "| arm | seed | examples | steps | epochs | tokens | dropped: > max_length / unfinished | "
                  "checkpoint | budget bound |", "|---|---|---|---|---|---|---|---|---|"]
        for t in training:
            bound = t.get("budget_bound")
            bound_s = "-" if bound is None else ("yes" if bound else
                                                 f"no ({t.get('available')} available < budget {t.get('budget')})")
            if t["arm"].startswith("control/"):
                bound_s = (f"matched to {t.get('loop_round')} (target {t.get('match_target')}"
                           + (f"; {t['from_other_problems']} from other problems" if t.get("from_other_problems")
                              else "") + ")")
            elif t.get("match") and t["match"] != "none":
                bound_s = f"matched by {t['match']} (target {t.get('match_target')} of {t.get('available')})"
            epochs = t.get("epochs")
            lines.append(f"| {t['arm']} | {t['seed']} | {t['examples']} | {t['steps']} | "
                         f"{'-' if epochs is None else f'{epochs:.2f}'} | {t['tokens']} | "
                         f"{_f(t.get('dropped_over_length'))} / {_f(t.get('unfinished_excluded'))} | "
                         f"{_f(t.get('checkpoint'))} | {bound_s} |")
        lines.append("")
    return lines


def curve_rows(arms: dict[str, ArmSamples]) -> list[dict[str, Any]]:
    """Data-size curve: per size and benchmark, pass@1 of each draw (seeds pooled) and their mean and SD."""
    import statistics

    per: dict[tuple[int, str], list[float]] = defaultdict(list)
    for label, arm in arms.items():
        m = re.fullmatch(r"static/n(\d+)/draw\d+", label)
        if not m:
            continue
        for bench in sorted({b for by in arm.by_seed.values() for b in by}):
            pooled = _pooled(arm, sorted(arm.by_seed), bench)
            if pooled:
                per[(int(m.group(1)), bench)].append(sum(sum(v) / len(v) for v in pooled.values()) / len(pooled))
    return [{"size": n, "benchmark": b, "draws": len(v), "pass@1": statistics.mean(v),
             "sd": statistics.stdev(v) if len(v) > 1 else None, "per_draw": v} for (n, b), v in sorted(per.items())]


def render_curve(rows: Sequence[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = ["### Data-size curve (static set, seeded draws)", "", "| size | benchmark | draws | pass@1 | sd across draws |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['size']} | {r['benchmark']} | {r['draws']} | {r['pass@1']:.3f} | {_f(r['sd'])} |" for r in rows]
    return [*lines, ""]


def report_doc(results: Sequence[PairedResult], training: Sequence[dict[str, Any]], *, alpha: float,
               power: float, primary: Sequence[str] = (), unmatched: Sequence[str] = ()) -> dict[str, Any]:
    """``report.json``: every comparison and what each arm trained on."""
    return {
        "decision_rule": {"alpha": alpha, "power": power,
                          "correction": "holm over the primary contrasts" if primary else "holm",
                          "primary": list(primary), "primary_not_compared": list(unmatched),
                          "rule": "A beats B iff p_adjusted < alpha; else no detectable difference (MDE); "
                                  "comparisons outside the primary contrasts are descriptive"},
        "comparisons": [r.to_dict() for r in results],
        "arms": list(training),
        "mismatch": mismatch_banner(training),
    }
