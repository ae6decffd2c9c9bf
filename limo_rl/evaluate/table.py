"""Markdown tables from ``metrics.json`` documents: one model in detail, or several side by side.

Rates are shown in percent with their 95% (or configured) bootstrap interval; every column
carries the exact metric name (``pass@1[avg of 16]``, ``maj@16``), never a bare "Acc".

Pure core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

NOT_RATES = ("mean_tokens",)


def format_value(name: str, metric: Mapping[str, float], with_ci: bool = True) -> str:
    """``41.3 [35.0, 47.5]`` for a rate (percent), ``812.4 [790.1, 830.0]`` for a count."""
    scale, digits = (1.0, 1) if name in NOT_RATES else (100.0, 1)
    v = f"{metric['value'] * scale:.{digits}f}"
    if not with_ci:
        return v
    return f"{v} [{metric['ci_low'] * scale:.{digits}f}, {metric['ci_high'] * scale:.{digits}f}]"


def render_metrics_table(doc: Mapping[str, Any], ci_level: float = 0.95) -> str:
    """One model: a headline row per benchmark, then every metric of every benchmark."""
    model = doc.get("model", "")
    label = doc.get("label") or ""
    pct = f"{round(ci_level * 100)}%"
    lines = [f"# Evaluation of `{model}`" + (f" ({label})" if label else ""), ""]
    lines += [
        f"Rates in percent with {pct} bootstrap intervals over problems; mean_tokens in tokens.",
        "",
        "| benchmark | problems | samples | primary metric | value |",
        "|---|---:|---:|---|---|",
    ]
    benches: Mapping[str, Any] = doc.get("benchmarks") or {}
    for name, b in benches.items():
        primary = b["primary"]
        lines.append(
            f"| {name} | {b['n_problems']} | {b['n_samples']} | {primary} | "
            f"{format_value(primary, b['metrics'][primary])} |"
        )
    lines += ["", "| benchmark | metric | value | CI low | CI high |", "|---|---|---:|---:|---:|"]
    for name, b in benches.items():
        for metric, m in b["metrics"].items():
            scale = 1.0 if metric in NOT_RATES else 100.0
            lines.append(
                f"| {name} | {metric} | {m['value'] * scale:.1f} | {m['ci_low'] * scale:.1f} | "
                f"{m['ci_high'] * scale:.1f} |"
            )
    skipped = [(name, s) for name, b in benches.items() for s in b.get("skipped", ())]
    if skipped:
        lines += ["", "Not reported:"] + [f"- {name}: {s}" for name, s in skipped]
    return "\n".join(lines) + "\n"


def render_comparison(docs: Sequence[Mapping[str, Any]], metric: str | None = None) -> str:
    """Several models (rows) against each benchmark's primary metric, or a named one (columns)."""
    benches: list[str] = []
    for d in docs:
        for name in d.get("benchmarks") or {}:
            if name not in benches:
                benches.append(name)
    header_names = []
    for name in benches:
        chosen = metric
        if chosen is None:
            chosen = next((d["benchmarks"][name]["primary"] for d in docs if name in d.get("benchmarks", {})), "")
        header_names.append((name, chosen))
    lines = [
        "| model | " + " | ".join(f"{b} {m}" for b, m in header_names) + " |",
        "|---|" + "---|" * len(header_names),
    ]
    for d in docs:
        cells = []
        for name, m in header_names:
            bench = (d.get("benchmarks") or {}).get(name)
            cells.append(format_value(m, bench["metrics"][m]) if bench and m in bench["metrics"] else "-")
        who = d.get("label") or d.get("model", "")
        lines.append(f"| {who} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
