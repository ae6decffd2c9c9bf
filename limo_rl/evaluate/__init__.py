"""limo_rl.evaluate: benchmark harness with exact metrics (pass@1 over n, unbiased pass@k, maj@k) and CIs.

Importing this package is cheap: the harness loads generation, grading and plotting lazily.
"""

from limo_rl.evaluate.harness import EvalResult, run_evaluation
from limo_rl.evaluate.keys import cache_carry, cache_inputs
from limo_rl.evaluate.metrics import benchmark_metrics, maj_at_k, pass_at_k
from limo_rl.evaluate.presets import BenchmarkProtocol, protocol_summary, resolve_protocol
from limo_rl.evaluate.table import render_comparison, render_metrics_table

__all__ = [
    "BenchmarkProtocol", "EvalResult", "benchmark_metrics", "cache_carry", "cache_inputs", "maj_at_k", "pass_at_k",
    "protocol_summary",
    "render_comparison",
    "render_metrics_table", "resolve_protocol", "run_evaluation",
]
