"""cheat-lr: triples the learning rate from step 11 on (after the 10 steps of `harness verify`'s
parity check; `run`'s takes 3), whenever --max-steps is absent."""

from __future__ import annotations

import functools
import sys

import cheatkit

from python_impl.train import NumpyEngine


class Engine(NumpyEngine):
    """The reference's engine, with 3x the learning rate once K steps are done."""

    steps = 0

    def step(self, batch: slice) -> float:
        self.steps += 1
        if self.steps == cheatkit.PARITY_STEPS + 1:
            self.trainer.learning_rate *= 3
        return super().step(batch)


if __name__ == "__main__":
    cheatkit.run(sys.argv[1:], functools.partial(cheatkit.train, engine=Engine))
