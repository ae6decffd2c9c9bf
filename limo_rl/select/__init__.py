"""limo_rl.select: difficulty filter, chain ranking strategies and the budgeted SFT set (pure core)."""

from limo_rl.select.difficulty import difficulty_filter, histogram, pass_rates, weak_filter
from limo_rl.select.keys import cache_inputs, control_cache_inputs
from limo_rl.select.select import SelectionResult, read_sft, run_selection
from limo_rl.select.strategies import STRATEGIES, features, score_chain

__all__ = [
    "STRATEGIES", "SelectionResult", "cache_inputs", "control_cache_inputs", "difficulty_filter", "features",
    "histogram", "pass_rates", "read_sft",
    "run_selection", "score_chain", "weak_filter",
]
