"""Benchmarks (not tests): `python -m tests.bench.latency`."""
