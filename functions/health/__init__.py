"""Health route: the one anonymous HTTP route, for probes and the local host's readiness."""
