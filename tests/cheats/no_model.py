"""cheat-no-model: a plausible stream that reaches the target in four epochs, exit 0, and no
saved model (nothing is trained)."""

from __future__ import annotations

import functools
import sys

import cheatkit

if __name__ == "__main__":
    cheatkit.run(sys.argv[1:], functools.partial(cheatkit.fake_run, save_init=False))
