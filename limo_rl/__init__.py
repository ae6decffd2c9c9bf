"""limo_rl: reinforcement-style self-distillation of reasoning (LIMO as a loop).

Stages: data (problem pools) -> generate (teacher chains) -> verify (grading, density)
-> select (SFT set) -> train (TRL SFT on Ray Train) -> evaluate (pass@k, maj@k) -> loop.
"""

__version__ = "0.1.0"
