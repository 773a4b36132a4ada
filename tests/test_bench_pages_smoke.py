"""bench/pages.py keeps working: a tiny database (seeded, doubled), both pages measured."""

from __future__ import annotations

import pytest

from bench import pages


@pytest.mark.slow
def test_the_pages_bench_builds_doubles_and_measures_both_pages(tmp_path):
    result = pages.run(cases=40, seed=20, reps=3, path=str(tmp_path / "bench"))
    assert result["database"]["cases"] == 40 and result["database"]["doublings"] == 1
    assert result["database"]["rows"]["human_tasks"] > 40
    assert result["inbox_p50_ms"] > 0 and result["task_page_p50_ms"] > 0 and result["api_inbox_queries_p50_ms"] > 0
