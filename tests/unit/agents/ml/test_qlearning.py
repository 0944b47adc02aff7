"""Tabular Q-learning on toy problems whose optimal policy is known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from agents.ml.qlearning import QLearner

# A corridor of 5 cells: action 0 steps left, action 1 steps right; every step costs -1 and
# reaching cell 4 pays +10 and ends the episode. Walking right is optimal in every cell, and
# the optimal values are known: from cell s, 4 - s steps, so V(s) = 10 * g^(3-s) - sum of costs.
CELLS, GOAL, DISCOUNT = 5, 4, 0.9


def step(s: int, a: int) -> tuple[int, float, bool]:
    s2 = max(0, s - 1) if a == 0 else s + 1
    if s2 == GOAL:
        return s2, 10.0, True
    return s2, -1.0, False


def optimal_q() -> list[list[float]]:
    """Q* by value iteration (the toy is deterministic, so this is exact to rounding)."""
    q = [[0.0, 0.0] for _ in range(CELLS)]
    for _ in range(500):
        for s in range(GOAL):
            for a in (0, 1):
                s2, r, done = step(s, a)
                q[s][a] = r + (0.0 if done else DISCOUNT * max(q[s2]))
    return q


def train(seed: int, episodes: int = 300) -> QLearner:
    rng = np.random.default_rng(seed)
    learner = QLearner(CELLS, 2, discount=DISCOUNT, alpha=0.1)
    for e in range(episodes):
        eps = max(0.05, 1.0 - e / (episodes * 0.7))
        s = 0
        for _ in range(100):
            a = learner.explore(s, float(rng.random()), int(rng.integers(0, 2)), eps)
            s2, r, done = step(s, a)
            learner.update(s, a, r, None if done else s2)
            if done:
                break
            s = s2
    return learner


def test_q_learning_learns_the_optimal_action_of_a_toy_corridor() -> None:
    learner = train(seed=1)
    assert learner.greedy_table()[:GOAL] == [1, 1, 1, 1]  # always walk to the goal
    want = optimal_q()
    got = learner.table()
    for s in range(GOAL):  # the action actually taken converges to Q*
        assert got[s][1] == pytest.approx(want[s][1], abs=0.05)


def test_training_is_deterministic_for_a_seed() -> None:
    a, b = train(seed=7, episodes=50), train(seed=7, episodes=50)
    assert a.q == b.q and a.n == b.n
    assert train(seed=8, episodes=50).q != a.q


def test_a_one_step_bandit_converges_to_the_mean_rewards() -> None:
    # One state, three actions with fixed rewards; with alpha_n = 1/n (alpha tiny) each Q is the
    # sample mean, here exactly the reward.
    learner = QLearner(1, 3, discount=0.0, alpha=1e-9)
    for _ in range(5):
        for a, r in enumerate((1.0, 3.0, 2.0)):
            learner.update(0, a, r, None)
    assert learner.table() == [[1.0, 3.0, 2.0]]
    assert learner.greedy(0) == 1
    assert learner.visits() == [15]


def test_ties_go_to_the_lowest_action_and_bad_settings_are_refused() -> None:
    learner = QLearner(2, 4, discount=0.5, alpha=0.5)
    assert learner.greedy(1) == 0
    assert learner.explore(1, 0.99, 3, 0.5) == 0  # u >= epsilon: greedy
    assert learner.explore(1, 0.10, 3, 0.5) == 3  # u < epsilon: the random action
    with pytest.raises(ValueError, match="`discount` must be in"):
        QLearner(1, 1, discount=1.0, alpha=0.1)
    with pytest.raises(ValueError, match="`alpha` must be in"):
        QLearner(1, 1, discount=0.5, alpha=0.0)
