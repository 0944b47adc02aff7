"""The performance recorder's per-bar columns read back as the tuples they were given."""

from __future__ import annotations

import math

import pytest

from agents.execution.performance import BarSeries, SampleSeries


def test_bar_series_reads_back_rows_by_index_negative_index_and_slice() -> None:
    bars = BarSeries()
    rows = [(i * 60, 1.0 + i, 2.0 + i, 0.5 + i, 1.5 + i, 10.0 * i) for i in range(4)]
    for row in rows:
        bars.add(*row)
    assert len(bars) == 4
    assert [bars[i] for i in range(4)] == rows
    assert bars[-1] == rows[-1]
    assert bars[-4] == rows[0]
    assert bars[1:3] == rows[1:3]
    assert list(bars) == rows
    with pytest.raises(IndexError):
        bars[4]
    with pytest.raises(IndexError):
        bars[-5]


def test_sample_series_keeps_a_missing_quote_as_none_and_exposes_its_columns() -> None:
    samples = SampleSeries()
    samples.add(None, 101.0, 0.5, 1000.0)
    samples.add(99.0, None, -0.5, 1001.0)
    samples.add(99.5, 100.5, 0.0, 999.0)
    assert len(samples) == 3
    assert samples[0] == (None, 101.0, 0.5, 1000.0)
    assert samples[1] == (99.0, None, -0.5, 1001.0)
    assert samples[-1] == (99.5, 100.5, 0.0, 999.0)
    assert samples[:2] == [samples[0], samples[1]]
    assert samples.equity.tolist() == [1000.0, 1001.0, 999.0]
    assert samples.inventory.tolist() == [0.5, -0.5, 0.0]
    assert math.isnan(samples.values[0])
    with pytest.raises(IndexError):
        samples[3]
