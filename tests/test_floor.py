"""The hardware floor: training FLOPs by hand, and a real (short) sgemm measurement."""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessError
from harness.preparation.floor import (
    SgemmRate,
    eval_flops,
    floor_fraction,
    measure_sgemm,
    rates_from_json,
    rates_to_json,
    training_flops,
)


def test_training_flops_of_the_benchmark_network_is_the_49_gflop_epoch_times_prints():
    # per sample: forward 2*(784*256 + 256*10), weight gradient the same, input gradient of
    # the second layer only 2*256*10
    per_sample = 2 * 2 * (784 * 256 + 256 * 10) + 2 * 256 * 10
    assert per_sample == 818_176
    assert training_flops([784, 256, 10], 60_000) == 60_000 * per_sample
    assert training_flops([784, 256, 10], 60_000) == pytest.approx(49.1e9, abs=0.1e9)


def test_training_flops_of_a_three_layer_network_counts_input_gradients_past_the_first_layer():
    # 4-3-2-1: layer products 12, 6, 2. Forward + weight gradient: 4*(12+6+2) = 80;
    # input gradients of layers 2 and 3: 2*(6+2) = 16; 96 per sample.
    assert training_flops([4, 3, 2, 1], 10) == 960.0


def test_eval_flops_is_the_forward_pass_only():
    assert eval_flops([4, 3, 2, 1], 10) == 10 * 2 * (12 + 6 + 2)
    assert eval_flops([784, 256, 10], 10_000) == 10_000 * 2 * (784 * 256 + 256 * 10)


def test_flops_reject_a_network_without_layers():
    with pytest.raises(ValueError, match="two or more"):
        training_flops([784], 10)


def test_floor_fraction_is_achieved_rate_over_measured_rate():
    # 50 GFLOP in 2 s is 25 GFLOP/s: a quarter of a 100 GFLOP/s sgemm rate
    assert floor_fraction(2.0, 50e9, 100.0) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        floor_fraction(0.0, 50e9, 100.0)


def test_measure_sgemm_gives_a_positive_rate_per_thread_count_with_the_blas_named():
    rates = measure_sgemm([784, 256, 10], 64, [1, 2], budget_seconds=0.4)
    assert sorted(rates) == [1, 2]
    for threads, rate in rates.items():
        assert rate.threads == threads
        assert rate.repeats >= 1
        assert rate.gflops > 0
        assert rate.gflops == pytest.approx(
            training_flops([784, 256, 10], 64) / rate.best_seconds / 1e9
        )
        assert rate.layers == (784, 256, 10)
        assert rate.batch == 64
        assert rate.blas_api  # e.g. openblas: NumPy always has a BLAS


def test_measure_sgemm_rejects_an_empty_thread_list():
    with pytest.raises(ValueError):
        measure_sgemm([784, 256, 10], 64, [])


def test_rates_survive_a_json_file_round_trip():
    rate = SgemmRate(2, 123.4, 0.003, 17, 512, (784, 256, 10), "openblas", "0.3.27", "Haswell")
    back = rates_from_json(json.loads(json.dumps(rates_to_json({2: rate}))))
    assert back == {2: rate}


def test_a_stored_rate_with_missing_fields_is_a_user_error():
    with pytest.raises(HarnessError, match="sgemm rate: expected the fields"):
        rates_from_json({"1": {"threads": 1, "gflops": 3.0}})
    with pytest.raises(HarnessError, match="keyed by thread count"):
        rates_from_json({"one": {}})
