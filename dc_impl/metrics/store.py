"""One ``*.prom`` file shared by every process on the host that records into the same directory.

Each process keeps its own not-yet-written increments; ``TextfileStore.flush(pending)`` then, under
an exclusive ``flock`` on ``DIR/.<name>.lock``:
1. reads the merged totals from ``DIR/.<name>.state.json`` (a torn or foreign file is set aside as
   ``.corrupt`` and counting restarts: Prometheus' ``rate()`` takes counter resets in its stride);
2. adds the increments (counters, histogram buckets) or sets the values (gauges);
3. writes the state back (temp file + ``os.replace``);
4. renders ``DIR/<name>.prom`` with ``prometheus_client`` (``write_to_textfile``: temp file + rename).

So a reader (node_exporter) never sees a torn file, counters of all processes add up in one series,
no series is in two files, and what a process that exited recorded stays counted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .definitions import MetricDef

STATE_FORMAT = 1


def series_key(name: str, labels: Sequence[str]) -> str:
    return name + "\t" + json.dumps(list(labels))


def split_key(key: str) -> tuple[str, list[str]]:
    name, _, labels = key.partition("\t")
    return name, json.loads(labels)


@dataclass
class Pending:
    """Increments of one process since its last flush (``set`` values for gauges)."""

    add: dict[str, float] = field(default_factory=dict)
    hist: dict[str, list[float]] = field(default_factory=dict)   # bucket counts..., +Inf count, sum
    set: dict[str, float] = field(default_factory=dict)
    replace: dict[str, dict[str, float]] = field(default_factory=dict)  # metric name -> all its series

    def __bool__(self) -> bool:
        return bool(self.add or self.hist or self.set or self.replace)

    def inc(self, key: str, value: float) -> None:
        self.add[key] = self.add.get(key, 0.0) + value

    def observe(self, key: str, buckets: Sequence[float], value: float) -> None:
        row = self.hist.setdefault(key, [0.0] * (len(buckets) + 2))
        for i, le in enumerate(buckets):
            if value <= le:
                row[i] += 1
                break
        else:
            row[len(buckets)] += 1
        row[-1] += value


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class TextfileStore:
    def __init__(self, directory: Path, name: str, defs: Sequence[MetricDef]) -> None:
        self.dir = directory
        self.name = name
        self.defs = {d.name: d for d in defs}
        self.prom = directory / f"{name}.prom"
        self.state_path = directory / f".{name}.state.json"
        self.lock_path = directory / f".{name}.lock"

    # ---- state ---------------------------------------------------------------------------------
    def read_state(self) -> dict[str, Any]:
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return {"format": STATE_FORMAT, "series": {}}
        try:
            state = json.loads(raw)
            if state.get("format") != STATE_FORMAT or not isinstance(state.get("series"), dict):
                raise ValueError("unknown state format")
            return state
        except (ValueError, AttributeError):
            with contextlib.suppress(OSError):
                os.replace(self.state_path, self.state_path.with_name(self.state_path.name + ".corrupt"))
            return {"format": STATE_FORMAT, "series": {}}

    def _merge(self, state: dict[str, Any], pending: Pending) -> None:
        series = state["series"]
        for name, values in pending.replace.items():
            for key in [k for k in series if split_key(k)[0] == name]:
                del series[key]
            series.update({key: {"v": value} for key, value in values.items()})
        for key, value in pending.add.items():
            series[key] = {"v": float(series.get(key, {}).get("v", 0.0)) + value}
        for key, value in pending.set.items():
            series[key] = {"v": value}
        for key, row in pending.hist.items():
            old = series.get(key, {}).get("h")
            if not isinstance(old, list) or len(old) != len(row):
                old = [0.0] * len(row)
            series[key] = {"h": [a + b for a, b in zip(old, row, strict=True)]}

    # ---- flush ---------------------------------------------------------------------------------
    def flush(self, pending: Pending) -> None:
        """Merge ``pending`` into the shared totals and rewrite the ``.prom`` file (both atomically)."""
        with _locked(self.lock_path):
            state = self.read_state()
            self._merge(state, pending)
            _write_atomic(self.state_path, json.dumps(state, separators=(",", ":")).encode())
            self.render(state)

    def render(self, state: dict[str, Any]) -> None:
        from prometheus_client import CollectorRegistry, write_to_textfile

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_StateCollector(self.defs, state))
        write_to_textfile(str(self.prom), registry)


class _StateCollector:
    def __init__(self, defs: dict[str, MetricDef], state: dict[str, Any]) -> None:
        self.defs = defs
        self.state = state

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        by_name: dict[str, list[tuple[list[str], dict[str, Any]]]] = {}
        for key, value in self.state["series"].items():
            name, labels = split_key(key)
            by_name.setdefault(name, []).append((labels, value))
        for d in self.defs.values():
            rows = sorted(by_name.get(d.name, []), key=lambda r: r[0])
            if not rows and not d.labels and d.kind != "gauge":
                rows = [([], {"v": 0.0} if d.kind == "counter" else {"h": [0.0] * (len(d.buckets) + 2)})]
            if d.kind == "counter":
                fam: Any = CounterMetricFamily(d.name.removesuffix("_total"), d.help, labels=list(d.labels))
                for labels, value in rows:
                    fam.add_metric(labels, float(value.get("v", 0.0)))
            elif d.kind == "gauge":
                fam = GaugeMetricFamily(d.name, d.help, labels=list(d.labels))
                for labels, value in rows:
                    fam.add_metric(labels, float(value.get("v", 0.0)))
            else:
                fam = HistogramMetricFamily(d.name, d.help, labels=list(d.labels))
                for labels, value in rows:
                    row = value.get("h") or [0.0] * (len(d.buckets) + 2)
                    cumulative, buckets = 0.0, []
                    for le, count in zip(d.buckets, row, strict=False):
                        cumulative += count
                        buckets.append((_le(le), cumulative))
                    total = cumulative + row[len(d.buckets)]
                    buckets.append(("+Inf", total))
                    fam.add_metric(labels, buckets, row[-1])
            yield fam


def _le(value: float) -> str:
    return str(int(value)) + ".0" if math.isclose(value, round(value)) else repr(value)
