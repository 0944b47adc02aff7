"""Measure the kernel against its goals, next to baselines timed in the same run on the same cores.

A figure alone says little on a shared, noisy machine; a figure next to a baseline timed seconds
apart on the same cores says how much the kernel costs over the simplest code doing the same job.
Run `python -m bench --list` for the benchmarks and `docs/benchmarks.md` for what each measures.

Every benchmark module exposes `run(quick: bool) -> list[dict]`, one dict per figure (see
`bench._measure.figure`); `bench.__main__` finds them by name and prints them.
"""
