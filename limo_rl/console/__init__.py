"""What the user sees and what is recorded: the progress display, logging policy, tracking (W&B),
redaction, shared CLI argument helpers."""
