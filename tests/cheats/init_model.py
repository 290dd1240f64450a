"""cheat-init-model: a plausible stream that reaches the target in four epochs, and the
untrained --init model saved as the final one (nothing is trained)."""

from __future__ import annotations

import functools
import sys

import cheatkit

if __name__ == "__main__":
    cheatkit.run(sys.argv[1:], functools.partial(cheatkit.fake_run, save_init=True))
