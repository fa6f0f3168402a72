"""Reproducible benchmarks; each prints its figures and a baseline measured in the same run."""
