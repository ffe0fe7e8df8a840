"""Benchmarks: ratios measured side by side in one run, printed. Not part of CI.

    make bench BENCH="lake_write --rows 2000000"
    .venv/bin/python -m benchmarks <name> [args]
"""
