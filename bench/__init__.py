"""Benchmarks: each module exposes `async run() -> Result`; `python -m bench` runs them all."""
