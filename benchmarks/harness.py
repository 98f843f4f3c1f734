"""Timing, ratio and report helpers that every benchmark area reuses. No Django here.

A Benchmark is an operation and its baseline (the bare SQL that writes the same rows, or the
same operation at a tenth of the size), measured in the same run, alternately, each `repeat`
times after `warmup` untimed rounds; VALUE and BASELINE are the medians and the ratio is
VALUE / BASELINE. `reset` runs (untimed) before every call, so each call starts from the same
table state; `check` runs (untimed) after every call and raises BenchmarkError when the call did
not do the whole job, so a fast wrong answer never passes.

The report is one line per benchmark (DESIGN.md):

    NAME: VALUE UNIT | baseline BASELINE UNIT | ratio R (limit L) ok|OVER
"""

import gc
import json
import math
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

RUN = "run"
BASELINE = "baseline"

EXIT_OK = 0
EXIT_OVER = 1
EXIT_ERROR = 2


class BenchmarkError(Exception):
    """A benchmark's own check failed: its figure would be meaningless."""


@dataclass
class Benchmark:
    name: str
    run: Callable[[], Any]
    baseline: Callable[[], Any]
    limit: float
    unit: str = "s"
    # False: run() and baseline() return the figure themselves (in `unit`) instead of being timed.
    timed: bool = True
    setup: Callable[[], None] | None = None
    reset: Callable[[str], None] | None = None  # reset(side) before every call, untimed
    check: Callable[[str, Any], None] | None = None  # check(side, result) after every call
    teardown: Callable[[], None] | None = None
    repeat: int = 3
    warmup: int = 0
    # Rows, emails, ... one call handles: var/bench.json then shows them per second too.
    items: int | None = None
    # Figures a benchmark wants in var/bench.json beside its result (sizes, bytes, counts).
    details: dict = field(default_factory=dict)


@dataclass
class Result:
    name: str
    unit: str
    limit: float
    value: float | None = None
    baseline: float | None = None
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)
    error: str | None = None
    details: dict = field(default_factory=dict)
    items: int | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline is None:
            return None
        if self.baseline <= 0:
            return math.inf
        return self.value / self.baseline

    @property
    def ok(self) -> bool:
        ratio = self.ratio
        return self.error is None and ratio is not None and ratio <= self.limit

    @property
    def line(self) -> str:
        return format_line(self)

    def as_dict(self) -> dict:
        data = asdict(self)
        ratio = self.ratio
        data.update(
            ratio=None if ratio is None or math.isinf(ratio) else round(ratio, 4),
            status="ERROR" if self.error else ("ok" if self.ok else "OVER"),
            line=self.line,
        )
        if self.items and self.unit == "s" and self.value and self.baseline:
            data.update(
                items_per_s=round(self.items / self.value, 1),
                baseline_items_per_s=round(self.items / self.baseline, 1),
            )
        return data


def fmt(value: float) -> str:
    """Three significant digits, never an exponent: 0.000412, 0.412, 4.12, 41.2, 4123."""
    if value is None or math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    if value == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"


def _limit(limit: float) -> str:
    return str(int(limit)) if float(limit).is_integer() else f"{limit:g}"


def format_line(result: Result) -> str:
    if result.error:
        return f"{result.name}: ERROR {result.error}"
    ratio = result.ratio
    ratio_text = "inf" if math.isinf(ratio) else f"{ratio:.2f}"
    return (
        f"{result.name}: {fmt(result.value)} {result.unit}"
        f" | baseline {fmt(result.baseline)} {result.unit}"
        f" | ratio {ratio_text} (limit {_limit(result.limit)}) {'ok' if result.ok else 'OVER'}"
    )


def _call(bench: Benchmark, side: str) -> float:
    function = bench.run if side == RUN else bench.baseline
    if bench.reset:
        bench.reset(side)
    if bench.timed:
        gc.collect()  # not inside the timed call
    started = time.perf_counter()
    outcome = function()
    elapsed = time.perf_counter() - started
    if bench.check:
        bench.check(side, outcome)
    if bench.timed:
        return elapsed
    if not isinstance(outcome, int | float):
        raise BenchmarkError(f"{side} returned {outcome!r}, not a figure in {bench.unit}")
    return float(outcome)


def measure(bench: Benchmark, progress: TextIO | None = None) -> Result:
    """Run one benchmark; a failure becomes a Result with `error` (the runner carries on)."""
    result = Result(
        name=bench.name,
        unit=bench.unit,
        limit=bench.limit,
        details=bench.details,
        items=bench.items,
    )
    set_up = False
    try:
        if bench.setup:
            bench.setup()
        set_up = True
        for _ in range(bench.warmup):
            _call(bench, BASELINE)
            _call(bench, RUN)
        for round_ in range(bench.repeat):
            # Alternate the order so neither side always runs on the warmer cache.
            sides = (BASELINE, RUN) if round_ % 2 == 0 else (RUN, BASELINE)
            for side in sides:
                figure = _call(bench, side)
                (result.samples if side == RUN else result.baseline_samples).append(figure)
                if progress:
                    print(
                        f"  {bench.name} {side} #{round_ + 1}: {fmt(figure)} {bench.unit}",
                        file=progress,
                        flush=True,
                    )
        result.value = statistics.median(result.samples)
        result.baseline = statistics.median(result.baseline_samples)
    except Exception as error:  # noqa: BLE001 - reported as this benchmark's ERROR line
        result.error = f"{type(error).__name__}: {error}"
        if progress:
            traceback.print_exc(file=progress)
    finally:
        if set_up and bench.teardown:
            try:
                bench.teardown()
            except Exception as error:  # noqa: BLE001
                result.error = result.error or f"teardown {type(error).__name__}: {error}"
                if progress:
                    traceback.print_exc(file=progress)
    return result


def run_benchmarks(
    benchmarks: Iterable[Benchmark],
    *,
    out: TextIO = sys.stdout,
    progress: TextIO | None = sys.stderr,
) -> list[Result]:
    """Measure each benchmark and print its line to `out` as soon as it is known."""
    results = []
    for bench in benchmarks:
        result = measure(bench, progress)
        print(result.line, file=out, flush=True)
        results.append(result)
    return results


def exit_code(results: Iterable[Result]) -> int:
    results = list(results)
    if any(r.error for r in results):
        return EXIT_ERROR
    if not all(r.ok for r in results):
        return EXIT_OVER
    return EXIT_OK


def write_json(path: Path, results: Iterable[Result], header: dict | None = None) -> None:
    results = list(results)
    data = {
        **(header or {}),
        "python": platform.python_version(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "ok": exit_code(results) == EXIT_OK,
        "benchmarks": [r.as_dict() for r in results],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def human_count(n: int) -> str:
    """10000 -> "10k", 2000 -> "2k", 1000000 -> "1m", 20 -> "20" (for benchmark names)."""
    for size, suffix in ((1_000_000, "m"), (1_000, "k")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)
