"""limo_rl.data: problem pools (load, dedup, decontaminate), the benchmark registry and the static LIMO set.

Submodules are imported where used (``limo_rl.data.pool``, ``.benchmarks``, ``.static``) so that
reading a problems file (``limo_rl.data.io``) stays light.
"""
