"""The Ray runtime: session start/join and environment policy, cluster resources, process records,
worker logs."""
