"""Benchmarks: python -m bench.dtmf_density, pytest bench --benchmark-only."""
