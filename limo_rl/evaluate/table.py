"""Markdown tables from ``metrics.json`` documents (read through :class:`limo_rl.run.readers.EvalMetrics`):
one model in detail, or several side by side.

Rates are shown in percent with their 95% (or configured) bootstrap interval; every column
carries the exact metric name (``pass@1[avg of 16]``, ``maj@16``), never a bare "Acc".

Pure core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from limo_rl.run.readers import EvalMetrics, MetricValue

NOT_RATES = ("mean_tokens",)
Doc = Mapping[str, Any] | EvalMetrics  # the harness's document in memory, or what was read back


def _typed(doc: Doc) -> EvalMetrics:
    return doc if isinstance(doc, EvalMetrics) else EvalMetrics.from_doc(doc)


def format_value(name: str, metric: MetricValue | Mapping[str, float], with_ci: bool = True) -> str:
    """``41.3 [35.0, 47.5]`` for a rate (percent), ``812.4 [790.1, 830.0]`` for a count."""
    m = metric if isinstance(metric, MetricValue) else MetricValue(metric["value"], metric["ci_low"],
                                                                   metric["ci_high"])
    scale, digits = (1.0, 1) if name in NOT_RATES else (100.0, 1)
    v = f"{m.value * scale:.{digits}f}"
    if not with_ci:
        return v
    return f"{v} [{m.ci_low * scale:.{digits}f}, {m.ci_high * scale:.{digits}f}]"


def render_metrics_table(doc: Doc, ci_level: float = 0.95) -> str:
    """One model: a headline row per benchmark, then every metric of every benchmark."""
    ev = _typed(doc)
    pct = f"{round(ci_level * 100)}%"
    lines = [f"# Evaluation of `{ev.model}`" + (f" ({ev.label})" if ev.label else ""), ""]
    lines += [
        f"Rates in percent with {pct} bootstrap intervals over problems; mean_tokens in tokens.",
        "",
        "| benchmark | problems | samples | primary metric | value |",
        "|---|---:|---:|---|---|",
    ]
    for name, b in ev.items():
        lines.append(
            f"| {name} | {b.n_problems} | {b.n_samples} | {b.primary} | "
            f"{format_value(b.primary or '', b.metrics[b.primary or ''])} |"
        )
    lines += ["", "| benchmark | metric | value | CI low | CI high |", "|---|---|---:|---:|---:|"]
    for name, b in ev.items():
        for metric, m in b.metrics.items():
            scale = 1.0 if metric in NOT_RATES else 100.0
            lines.append(
                f"| {name} | {metric} | {m.value * scale:.1f} | {m.ci_low * scale:.1f} | "
                f"{m.ci_high * scale:.1f} |"
            )
    skipped = [(name, s) for name, b in ev.items() for s in b.skipped]
    if skipped:
        lines += ["", "Not reported:"] + [f"- {name}: {s}" for name, s in skipped]
    return "\n".join(lines) + "\n"


def render_comparison(docs: Sequence[Doc], metric: str | None = None) -> str:
    """Several models (rows) against each benchmark's primary metric, or a named one (columns)."""
    evs = [_typed(d) for d in docs]
    benches: list[str] = []
    for ev in evs:
        for name in ev.benchmarks:
            if name not in benches:
                benches.append(name)
    header_names = []
    for name in benches:
        chosen = metric
        if chosen is None:
            chosen = next((ev.benchmarks[name].primary or "" for ev in evs if name in ev.benchmarks), "")
        header_names.append((name, chosen))
    lines = [
        "| model | " + " | ".join(f"{b} {m}" for b, m in header_names) + " |",
        "|---|" + "---|" * len(header_names),
    ]
    for ev in evs:
        cells = []
        for name, m in header_names:
            bench = ev.benchmarks.get(name)
            cells.append(format_value(m, bench.metrics[m]) if bench and m in bench.metrics else "-")
        lines.append(f"| {ev.label or ev.model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
