"""Smoke test of `make bench`'s harness: the report line, the ok/OVER/ERROR logic, and a tiny run
of the notifications benchmarks (their checks included) on the test database."""

import json
import re

import pytest

from benchmarks import apply, notifications
from benchmarks.harness import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_OVER,
    Benchmark,
    BenchmarkError,
    exit_code,
    fmt,
    human_count,
    run_benchmarks,
    write_json,
)
from benchmarks.run import collect, parse_args

LINE = re.compile(
    r"^(?P<name>[a-z0-9_.]+): (?P<value>\d+(\.\d+)?) (?P<unit>\S+)"
    r" \| baseline (?P<baseline>\d+(\.\d+)?) (?P=unit)"
    r" \| ratio (?P<ratio>\d+\.\d\d|inf) \(limit (?P<limit>\d+(\.\d+)?)\) (?P<status>ok|OVER)$"
)


def figure(value):
    return lambda: value


def fixed(name, value, baseline, limit=3, **kwargs):
    """A benchmark whose sides report fixed figures, so the outcome is known in advance."""
    return Benchmark(name, figure(value), figure(baseline), limit, unit="ms", timed=False, **kwargs)


def run(benches):
    lines = []

    class Out:
        def write(self, text):
            lines.extend(part for part in text.splitlines() if part)

        def flush(self):
            pass

    results = run_benchmarks(benches, out=Out(), progress=None)
    return results, lines


def test_lines_and_the_ok_over_logic(tmp_path):
    calls = []
    ok = fixed("area.ok", 2.5, 1.0, reset=lambda side: calls.append(side), repeat=3)
    at_limit = fixed("area.at_limit", 3.0, 1.0)
    over = fixed("area.over", 3.5, 1.0)
    results, lines = run([ok, at_limit, over])

    assert lines == [
        "area.ok: 2.50 ms | baseline 1.00 ms | ratio 2.50 (limit 3) ok",
        "area.at_limit: 3.00 ms | baseline 1.00 ms | ratio 3.00 (limit 3) ok",
        "area.over: 3.50 ms | baseline 1.00 ms | ratio 3.50 (limit 3) OVER",
    ]
    assert all(LINE.match(line) for line in lines)
    assert [r.ok for r in results] == [True, True, False]
    assert exit_code(results[:2]) == EXIT_OK
    assert exit_code(results) == EXIT_OVER
    # Each side is reset before each call, alternating which side goes first.
    assert calls == ["baseline", "run", "run", "baseline", "baseline", "run"]

    path = tmp_path / "bench.json"
    write_json(path, results, {"database": {"vendor": "test"}})
    data = json.loads(path.read_text())
    assert data["ok"] is False
    assert data["database"] == {"vendor": "test"}
    assert [b["status"] for b in data["benchmarks"]] == ["ok", "ok", "OVER"]
    assert data["benchmarks"][2]["ratio"] == 3.5
    assert data["benchmarks"][0]["line"] == lines[0]


def test_median_of_the_samples_and_timed_sides():
    samples = iter([5.0, 1.0, 9.0])
    median = Benchmark("area.median", lambda: next(samples), figure(1.0), 6, timed=False)
    timed = Benchmark("area.timed", lambda: None, lambda: None, 1_000_000, repeat=1)
    (median_result, timed_result), lines = run([median, timed])
    assert median_result.value == 5.0
    assert median_result.samples == [5.0, 1.0, 9.0]
    assert timed_result.value >= 0 and timed_result.unit == "s"
    assert LINE.match(lines[1])


def test_a_failed_check_is_an_error_line_and_the_others_still_run():
    def check(side, outcome):
        raise BenchmarkError(f"{side} wrote 3 rows, not 4")

    broken = fixed("area.broken", 1.0, 1.0, check=check)
    results, lines = run([broken, fixed("area.fine", 1.0, 1.0)])
    assert lines[0] == "area.broken: ERROR BenchmarkError: baseline wrote 3 rows, not 4"
    assert LINE.match(lines[1])
    assert exit_code(results) == EXIT_ERROR


def test_a_zero_baseline_is_over():
    (result,), (line,) = run([fixed("area.zero", 1.0, 0.0)])
    assert line == "area.zero: 1.00 ms | baseline 0 ms | ratio inf (limit 3) OVER"


def test_number_formats():
    assert [fmt(v) for v in (0.000412, 0.4123, 4.123, 41.23, 4123.4)] == [
        "0.000412",
        "0.412",
        "4.12",
        "41.2",
        "4123",
    ]
    assert [human_count(n) for n in (10_000, 2_000, 1_000_000, 20, 1500)] == [
        "10k",
        "2k",
        "1m",
        "20",
        "1500",
    ]


@pytest.mark.django_db
def test_a_tiny_apply_run():
    results, lines = run([apply.apply_benchmark(30, repeat=1)])
    assert [r.error for r in results] == [None], lines
    assert LINE.match(lines[0])["name"] == "apply.denials_30"


@pytest.mark.django_db
def test_a_tiny_notifications_run(tmp_path):
    benches = [
        notifications.create_benchmark(20, repeat=1, warmup=1),
        notifications.deliver_benchmark(5, batch_size=2, repeat=1),
    ]
    results, lines = run(benches)
    assert [r.error for r in results] == [None, None], lines
    assert [LINE.match(line)["name"] for line in lines] == [
        "notifications.create_20",
        "notifications.deliver_5",
    ]
    assert results[1].details["deliver_due_calls"] == 3  # batches of 2, 2 and 1
    write_json(tmp_path / "bench.json", results)
    assert len(json.loads((tmp_path / "bench.json").read_text())["benchmarks"]) == 2


def test_the_runner_selects_by_name_prefix():
    assert [b.name for b in collect(["notifications.deliver"], repeat=1)] == [
        "notifications.deliver_2k"
    ]
    # Every area's benchmarks are collected, each area's in its own order.
    names = [b.name for b in collect([], repeat=1)]
    assert names[:2] == ["notifications.create_10k", "notifications.deliver_2k"]
    assert {
        "engine.start_100k",
        "engine.decide_50k",
        "panel.page_100k",
        "apply.denials_50k",
    } <= set(names)


def test_the_scale_envelope_is_its_own_run_once_per_side():
    names = [b.name for b in collect([], repeat=1, scale=True)]
    assert names == ["engine.start_1m", "panel.page_1m", "apply.denials_500k"]
    args = parse_args(["--scale"])
    assert (args.repeat, args.json.name) == (1, "bench-scale.json")
    assert (parse_args([]).repeat, parse_args([]).json.name) == (3, "bench.json")
