"""Fengqiao benchmarks: `python -m bench` (make bench), `python -m bench --smoke` (CI). See docs/benchmarks.md."""
