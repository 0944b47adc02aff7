"""Cut a window of data into walk-forward splits: train, then the test window right after it.

Walk-forward validation judges a way of choosing parameters the way it would be used: choose on
the past (`train`), trade the next stretch (`test`) with the choice, move on. Invariants, for
every split list this module returns (tests check them with hypothesis):

- train precedes test: `train_end == test_start`, and `train_start < train_end`;
- test windows never overlap, and come in time order (`step >= test`);
- every window lies inside `[start, end)`; with `step == test` the test windows tile
  `[start + train, last test end)` and what is left at the end is shorter than a step.
"""

from __future__ import annotations

import msgspec

from runtime._errors import ConfigError


class Split(msgspec.Struct, frozen=True, kw_only=True):
    """One walk-forward split, times in ns since the epoch, windows half-open `[start, end)`."""

    index: int
    train_start_ns: int
    train_end_ns: int
    test_start_ns: int
    test_end_ns: int


def walk_forward(
    start_ns: int,
    end_ns: int,
    /,
    *,
    train_ns: int,
    test_ns: int,
    step_ns: int | None = None,
    anchored: bool = False,
) -> list[Split]:
    """Return the splits of `[start_ns, end_ns)`: as many as fit, oldest first.

    Rolling: each train window is the `train_ns` before its test window. Anchored: each train
    window starts at `start_ns` (it grows by a step each split).
    """
    step = test_ns if step_ns is None else step_ns
    if train_ns <= 0 or test_ns <= 0 or step <= 0:
        raise ConfigError(
            f"walk-forward spans must be > 0, got train {train_ns}, test {test_ns}, step {step} ns"
        )
    if step < test_ns:
        raise ConfigError(f"`step_days` must be >= `test_days`, got {step} < {test_ns} ns")
    span = end_ns - start_ns
    if span < train_ns + test_ns:
        raise ConfigError(
            f"the window ({span / 86.4e12:g} days) is shorter than one train + test "
            f"({(train_ns + test_ns) / 86.4e12:g} days) - at `$.walk_forward`"
        )
    count = (span - train_ns - test_ns) // step + 1
    out = []
    for i in range(count):
        test_start = start_ns + train_ns + i * step
        out.append(
            Split(
                index=i,
                train_start_ns=start_ns if anchored else test_start - train_ns,
                train_end_ns=test_start,
                test_start_ns=test_start,
                test_end_ns=test_start + test_ns,
            )
        )
    return out


def live_window(
    start_ns: int, end_ns: int, /, *, train_ns: int, anchored: bool = False
) -> tuple[int, int]:
    """Return the train window that chooses the parameters to run next: the last `train_ns`."""
    return (start_ns if anchored else max(start_ns, end_ns - train_ns), end_ns)


__all__ = ["Split", "live_window", "walk_forward"]
