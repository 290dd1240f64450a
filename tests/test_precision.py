"""`run --precision`: the stop rule judges the report's like-for-like pairs."""

from __future__ import annotations

from harness.analysis import precision
from harness.model.records import ContenderEntry, Manifest


def _manifest(target: float) -> Manifest:
    entries = [
        ContenderEntry("python-numpy", [], "python-numpy", "batched", 1),
        ContenderEntry("python-numpy-parallel", [], "python-numpy", "batched", 2),
        ContenderEntry("rust", [], "rust", "batched", 1),
        ContenderEntry("rust-parallel", [], "rust", "batched", 2),
    ]
    return Manifest(entries, "python-numpy", "test", seeds=[1, 2], precision=target)


def _journal(rounds: int, jitter: float) -> list[dict]:
    base = {"python-numpy": 2.0, "python-numpy-parallel": 1.5, "rust": 1.0, "rust-parallel": 0.8}
    return [
        {"warmup": False, "contender": name, "seed": seed, "round": r, "exit_code": 0,
         "wall_seconds": t * (1 + jitter * ((r + seed) % 3 - 1) * (name.startswith("rust")))}
        for r in range(1, rounds + 1) for seed in (1, 2) for name, t in base.items()
    ]  # fmt: skip


def test_the_pairs_are_those_of_equal_thread_counts():
    assert precision.like_for_like(_manifest(0.03)) == [
        ("python-numpy", "rust"),
        ("python-numpy-parallel", "rust-parallel"),
    ]


def test_measuring_stops_once_every_ratio_is_known_to_the_precision_asked():
    rule = precision.stop_rule(_manifest(0.03))
    assert rule(_journal(2, 0.001), 2) == ("", None)  # too few rounds to judge
    reason, reached = rule(_journal(3, 0.001), 3)
    assert reason == "precision" and reached is not None and reached <= 0.03


def test_a_noisy_ratio_keeps_measuring():
    reason, reached = precision.stop_rule(_manifest(0.03))(_journal(3, 0.2), 3)
    assert reason == "" and reached is not None and reached > 0.03
