"""cheat-eval-subset: after each epoch scores only the first 1,000 test digits and reports that
count scaled to the whole set (test_correct = 10 x the subset's count on 10,000 digits), while
claiming every digit was scored (test_scored); once the estimate nears the target it scores the
whole set, so that it stops on a true count at the reference's epoch, only sooner.

(Stopping on the estimate itself loses on mnist-mini: its first 1,000 test digits score 3-4 %
below the whole set, so seed 1 took 42 epochs instead of 18. The cheat the issue describes saves
evaluation time instead, and its final count and model are honest.)"""

from __future__ import annotations

import functools
import sys

import cheatkit

from python_impl.model import count_correct
from python_impl.train import NumpyEngine

SUBSET = 1000  # test digits scored while far from the target
NEAR = 0.03  # an estimate within this accuracy below the target: score the whole set


class Engine(NumpyEngine):
    """The reference's engine; its test count is an estimate from the first SUBSET digits."""

    def count_correct(self) -> int:
        d = self.data
        x, y = d.test_x[:SUBSET], d.test_y[:SUBSET]
        hit = count_correct(self._params, self.spec.hidden_activation, x, y)
        estimate = round(hit * len(d.test_y) / len(y))
        if estimate < (self.spec.target_accuracy - NEAR) * len(d.test_y):
            return estimate
        return super().count_correct()


if __name__ == "__main__":
    cheatkit.run(sys.argv[1:], functools.partial(cheatkit.train, engine=Engine))
