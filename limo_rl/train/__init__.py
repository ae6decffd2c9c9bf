"""limo_rl.train: SFT examples -> a fine-tuned student (TRL SFTTrainer on Ray Train).

``run_training`` is the stage entry point; ``rows`` (pure) turns SFT examples into TRL rows
and checks templates and loss masks; ``runner`` is the per-worker training function;
``checkpoints`` finds the newest complete checkpoint to resume from.
"""

from limo_rl.train.keys import cache_inputs
from limo_rl.train.launcher import TrainError, TrainResult, run_training
from limo_rl.train.rows import SFTDataError, read_sft_jsonl, split_validation, to_rows

__all__ = ["TrainError", "TrainResult", "cache_inputs", "run_training", "SFTDataError", "read_sft_jsonl",
           "split_validation",
           "to_rows"]
