"""limo_rl.toy: a CPU-scale reasoning world (synthetic problems, chains of known quality, tiny models).

The public API the other stages call; everything here imports without torch (models are built lazily).
"""

from limo_rl.toy.bootstrap import bootstrap_teacher, resolve_toy_model
from limo_rl.toy.chains import (
    gold_examples,
    process_consistent,
    toy_correct,
    verification_steps,
    write_chain,
)
from limo_rl.toy.gold import control_chain
from limo_rl.toy.perturb import format_only_chain
from limo_rl.toy.problems import confirm_problems, dev_problems, eval_problems, make_problems

__all__ = [
    "bootstrap_teacher", "confirm_problems", "control_chain", "dev_problems", "eval_problems", "format_only_chain",
    "gold_examples", "make_problems", "process_consistent",
    "resolve_toy_model", "toy_correct", "verification_steps", "write_chain",
]
