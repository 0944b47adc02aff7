"""Learn action values for a small discrete problem: tabular Q-learning (Watkins 1989).

    Q(s, a) <- Q(s, a) + alpha_n * (r + discount * max_a' Q(s', a') - Q(s, a))

with `alpha_n = max(alpha, 1 / n(s, a))` (`n`: updates of that pair so far): a sample average
while a pair is young, a constant step after it, so early noise is averaged out and late data
still counts. Actions are epsilon-greedy; ties go to the lowest action index, so a table and a
stream of draws give one result. All randomness comes from the caller (`explore` takes the
uniform draw and the random action), so training is as deterministic as the caller's seeded
`numpy.random.Generator`.

The table is a flat list of floats (row `s` is `q[s * actions : (s + 1) * actions]`): the
training loop runs in Python, one update per bar, and list indexing is what Python does fastest.
"""

from __future__ import annotations


class QLearner:
    """A Q table with its visit counts; `explore` picks, `update` learns."""

    __slots__ = ("actions", "alpha", "discount", "n", "q", "states")

    def __init__(self, states: int, actions: int, /, *, discount: float, alpha: float) -> None:
        if not 0.0 <= discount < 1.0:
            raise ValueError(f"`discount` must be in [0, 1), got {discount}")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"`alpha` must be in (0, 1], got {alpha}")
        self.states = states
        self.actions = actions
        self.discount = discount
        self.alpha = alpha
        self.q = [0.0] * (states * actions)
        self.n = [0] * (states * actions)

    def greedy(self, s: int, /) -> int:
        """Return the best action of state `s` (the lowest index among equals)."""
        na = self.actions
        row = self.q[s * na : s * na + na]
        return row.index(max(row))

    def explore(self, s: int, u: float, random_action: int, epsilon: float, /) -> int:
        """Return `random_action` when the draw `u` < `epsilon`, else the greedy action."""
        return random_action if u < epsilon else self.greedy(s)

    def update(self, s: int, a: int, r: float, s2: int | None, /) -> None:
        """Learn from one transition; `s2` None ends the episode (no bootstrap)."""
        na = self.actions
        i = s * na + a
        n = self.n[i] + 1
        self.n[i] = n
        target = r
        if s2 is not None:
            target += self.discount * max(self.q[s2 * na : s2 * na + na])
        step = max(1.0 / n, self.alpha)
        self.q[i] += step * (target - self.q[i])

    def table(self) -> list[list[float]]:
        """Return the Q table as rows per state."""
        na = self.actions
        return [self.q[s * na : s * na + na] for s in range(self.states)]

    def greedy_table(self) -> list[int]:
        """Return the greedy action of every state."""
        return [self.greedy(s) for s in range(self.states)]

    def visits(self) -> list[int]:
        """Return the updates per state."""
        na = self.actions
        return [sum(self.n[s * na : s * na + na]) for s in range(self.states)]


__all__ = ["QLearner"]
