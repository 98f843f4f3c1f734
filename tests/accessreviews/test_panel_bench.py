"""A tiny run of the access panel's benchmarks, their own checks included (`make bench`)."""

import pytest

from benchmarks import panel
from benchmarks.harness import run_benchmarks
from benchmarks.run import collect

pytestmark = pytest.mark.django_db


def test_a_tiny_panel_run():
    results = run_benchmarks(
        [
            panel.page_benchmark(panel.PAGE_SIZE * 2, repeat=1, warmup=0),
            panel.accept_benchmark(30, repeat=1, warmup=1),
            panel.approve_matching_benchmark(30, repeat=1, warmup=1),
        ]
    )
    assert [r.name for r in results] == [
        "panel.page_100",
        "panel.accept_30",
        "panel.approve_matching_30",
    ]
    for result in results:
        assert result.error is None, result.error
        assert result.value > 0 and result.baseline > 0


def test_make_bench_runs_the_panel_at_full_size():
    names = [b.name for b in collect(["panel."], repeat=1)]
    assert names == ["panel.page_100k", "panel.accept_50k", "panel.approve_matching_50k"]
