"""`make bench`: mediagate next to nginx, driven by wrk (see bench/results/REPORT.md)."""
