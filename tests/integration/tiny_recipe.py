"""Overrides that shrink the quickstart recipe to a test-sized run (same code paths, less work)."""

TINY_OVERRIDES = [
    "tracking.backend=none",
    "pool.toy.n=24",
    "generate.n=2",
    "generate.shard_size=6",
    "generate.max_new_tokens=160",
    "train.epochs=1",
    "train.warmup_ratio=0",  # one optimizer step: a warmup would give it learning rate 0 (refused, issue 25)
    "evaluate.limit=16",
    "evaluate.max_new_tokens=160",
    "loop.static.limit=64",
    "loop.rounds=1",
    "loop.controls=[]",  # the quickstart's control arms: one integration test (test_loop_e2e) adds one back
    "select.difficulty.min_pass_rate=0.0",  # 2 samples of a handful of problems: a window would empty the set
    "select.difficulty.max_pass_rate=1.0",
]
