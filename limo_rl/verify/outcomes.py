"""The two non-answer outcomes a sandboxed job can report.

A leaf module: the worker process (:mod:`limo_rl.verify._worker`) and the pool that starts it
(:mod:`limo_rl.verify.sandbox`) both name them, and neither should import the other.
"""

TIMEOUT = "timeout"
ERROR = "error"
