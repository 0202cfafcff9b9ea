"""Benchmarks behind ``tools/benchmark.py``: one module per subject, each with
``run(args) -> dict`` and ``add_arguments(parser)``; results are JSON."""
