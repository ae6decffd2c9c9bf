"""limo_rl.verify: final-answer extraction, answer equivalence, verification density, LIMO quality features.

Public API: :func:`grade` / :class:`Grader` (verdicts), :func:`extract_answer`,
:func:`grade_shards` (the verify stage: one verdict shard per chain shard), :func:`grade_chains` and
:func:`read_verdicts` (a verdicts file or shard folder). See the modules'
docstrings for the rules followed and why.
"""

from limo_rl.verify.answers import extract_answer
from limo_rl.verify.grade import GRADER_VERSION, Grader, grade, grader_id
from limo_rl.verify.keys import cache_inputs
from limo_rl.verify.stage import grade_chains, grade_shards, read_verdicts

__all__ = [
    "GRADER_VERSION", "Grader", "cache_inputs", "extract_answer", "grade", "grade_chains", "grade_shards", "grader_id",
    "read_verdicts",
]
