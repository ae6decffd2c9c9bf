"""limo_rl.verify: final-answer extraction, answer equivalence, verification density, LIMO quality features.

Public API: :func:`grade` / :class:`Grader` (verdicts), :func:`extract_answer`,
:func:`grade_chains` / :func:`read_verdicts` (the verify stage's files). See the modules'
docstrings for the rules followed and why.
"""

from limo_rl.verify.answers import extract_answer
from limo_rl.verify.grade import GRADER_VERSION, Grader, grade, grader_id
from limo_rl.verify.stage import grade_chains, read_verdicts

__all__ = ["GRADER_VERSION", "Grader", "extract_answer", "grade", "grade_chains", "grader_id", "read_verdicts"]
