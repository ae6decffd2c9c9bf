"""The Ray runtime and this machine: the command's Ray session (start or join, records, storage check, orphan
clean-up, shutdown), cluster resources, process records, worker logs, and the machine checks (preflight)."""
