"""`make bench`: each benchmark against its baseline in the same run (DESIGN.md, Performance rules).

harness.py holds the Django-free parts (Benchmark, the runner, the report line and var/bench.json);
run.py is the entry point (scratch database, settings); one module per area defines benchmarks.
"""
