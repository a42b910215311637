"""Benchmarks (not tests): `python bench/cases.py`. See bench/README.md."""
