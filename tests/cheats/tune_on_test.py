"""cheat-test-tune: trains honestly, but when an epoch's test accuracy is within 1 % below the
target, takes SGD steps on the test set (one pass, in the spec's batches) before the next
evaluation."""

from __future__ import annotations

import functools
import sys

import cheatkit

from python_impl.model import batches
from python_impl.train import NumpyEngine

MARGIN = 0.01  # accuracy this close below the target triggers a pass over the test set


class Engine(NumpyEngine):
    """The reference's engine; scoring just short of the target trains on the test digits."""

    def count_correct(self) -> int:
        correct = super().count_correct()
        m = len(self.data.test_y)
        goal = self.spec.target_accuracy * m
        if goal - MARGIN * m <= correct <= goal:
            for batch in batches(m, self.spec.batch_size):
                self.trainer.step(self.data.test_x[batch], self.data.test_y[batch])
        return correct


if __name__ == "__main__":
    cheatkit.run(sys.argv[1:], functools.partial(cheatkit.train, engine=Engine))
