"""Sharing a run on the Hugging Face Hub: dataset and model cards, ``limo-rl push``."""
