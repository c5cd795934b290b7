"""Benchmarks: commands that print measured numbers (not installed; run from the repository root)."""
