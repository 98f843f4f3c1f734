"""A tiny run of the engine benchmarks (their checks included) on the test database."""

import pytest

from benchmarks import engine
from benchmarks.harness import run_benchmarks
from benchmarks.run import collect


class Lines:
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.extend(part for part in text.splitlines() if part)

    def flush(self):
        pass


@pytest.mark.django_db
def test_a_tiny_engine_run():
    out = Lines()
    benches = [engine.start_benchmark(30, repeat=1), engine.decide_benchmark(20, repeat=1)]
    results = run_benchmarks(benches, out=out, progress=None)
    assert [r.error for r in results] == [None, None], out.lines
    assert [line.split(":")[0] for line in out.lines] == ["engine.start_30", "engine.decide_20"]


def test_make_bench_runs_the_engine_benchmarks():
    names = [bench.name for bench in collect(["engine."], repeat=1)]
    assert names == ["engine.start_100k", "engine.decide_50k"]
