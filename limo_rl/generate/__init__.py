"""limo_rl.generate: the teacher samples k reasoning chains per problem, sharded on Ray, resumable.

Public API: :func:`run_generation` (the stage), :func:`read_chains` (its output),
:class:`GenerationResult`, :class:`GenerationError`. Importing this package imports no torch,
ray or vllm; the engines load them when built.
"""

from limo_rl.generate.driver import GenerationError, GenerationResult, run_generation
from limo_rl.generate.keys import cache_inputs
from limo_rl.generate.shards import ShardError, read_chains

__all__ = ["GenerationError", "GenerationResult", "ShardError", "cache_inputs", "read_chains", "run_generation"]
