"""The NumPy reference's maths: shared vectors, finite differences, batched vs per-sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from vectors.generate_softmax_cross_entropy import numeric_grad

from python_impl.data import load_dataset
from python_impl.model import (
    Activation,
    BatchedTrainer,
    PerSampleTrainer,
    count_correct,
    he_normal,
    softmax_cross_entropy,
    train_epoch,
)

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
MNIST_MINI = ROOT / "harness" / "preparation" / "data" / "mnist-mini"


def load_vector(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


def params_from(weights: list, biases: list, dtype: type = np.float32) -> list:
    return [(np.array(w, dtype), np.array(b, dtype)) for w, b in zip(weights, biases, strict=True)]


@pytest.fixture(scope="module")
def hand_computed() -> dict:
    return load_vector("hand_computed_3_2_3.json")


@pytest.mark.parametrize("trainer_kind", ["batched", "per-sample"])
def test_hand_computed_3_2_3_gradients_match_the_published_values(hand_computed, trainer_kind):
    v = hand_computed
    params = params_from(v["weights"], v["biases"])
    act = Activation(v["hidden_activation"]["kind"], v["hidden_activation"]["alpha"])
    label = np.array([int(np.argmax(v["target"]))])
    x = np.array([v["input"]], np.float32)
    if trainer_kind == "batched":
        trainer = BatchedTrainer(params, act, v["output"], 0.1, max_batch=1)
    else:
        trainer = PerSampleTrainer(params, act, v["output"], 0.1)
    trainer.gradients(x, label)
    e, tol = v["expected"], v["tolerance"]
    for k in range(2):
        np.testing.assert_allclose(trainer.grad_w[k], e["weight_gradients"][k], rtol=0, atol=tol)
        np.testing.assert_allclose(trainer.grad_b[k], e["bias_gradients"][k], rtol=0, atol=tol)
    for k in range(2):  # batched buffers hold rows of samples, per-sample ones vectors
        for buffers, key in ((trainer.z, "pre_activations"), (trainer.a, "activations")):
            first = buffers[k].reshape(-1, len(e[key][k]))[0]
            np.testing.assert_allclose(first, e[key][k], atol=tol)
        first = trainer.delta[k].reshape(-1, len(e["deltas"][k]))[0]
        np.testing.assert_allclose(first, e["deltas"][k], atol=tol)


SOFTMAX = load_vector("softmax_cross_entropy.json")


@pytest.mark.parametrize("case", SOFTMAX["logits_cases"], ids=lambda c: c["name"])
def test_softmax_cross_entropy_loss_and_logit_gradients_match_the_vectors(case):
    tol = SOFTMAX["tolerance"]
    z = np.array(case["logits"], np.float32)
    labels = np.array(case["labels"])
    p, delta = np.empty_like(z), np.empty_like(z)
    loss_sum = softmax_cross_entropy(z, labels, p, delta)
    batch = len(z)
    assert loss_sum / batch == pytest.approx(case["expected_loss"], rel=tol["rel"], abs=tol["abs"])
    np.testing.assert_allclose(
        delta / batch, case["expected_grad_logits"], rtol=tol["rel"], atol=tol["abs"]
    )
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)


def test_softmax_network_gradients_match_the_finite_difference_vectors():
    tol = SOFTMAX["tolerance"]
    (case,) = SOFTMAX["network_cases"]
    params = params_from(case["weights"], case["biases"])
    x = np.array(case["inputs"], np.float32)
    labels = np.array(case["labels"])
    trainer = BatchedTrainer(params, case["hidden_activation"], "softmax_cross_entropy", 0.1, 8)
    loss = trainer.gradients(x, labels) / len(x)
    assert loss == pytest.approx(case["expected_loss"], rel=tol["rel"], abs=tol["abs"])
    for k in range(len(params)):
        np.testing.assert_allclose(
            trainer.grad_w[k] / len(x),
            case["expected_weight_gradients"][k],
            rtol=tol["rel"],
            atol=tol["abs"],
        )
        np.testing.assert_allclose(
            trainer.grad_b[k] / len(x),
            case["expected_bias_gradients"][k],
            rtol=tol["rel"],
            atol=tol["abs"],
        )


@pytest.mark.parametrize("output", ["softmax_cross_entropy", "sigmoid_mse"])
@pytest.mark.parametrize("activation", [Activation("relu"), Activation("leaky_relu", 0.2)])
def test_analytic_gradients_equal_central_finite_differences_in_float64(output, activation):
    rng = np.random.default_rng(7)
    layers = [5, 4, 3, 10]
    params = [(w.astype(np.float64), b.astype(np.float64) + 0.1) for w, b in he_normal(layers, 3)]
    x = rng.uniform(0, 1, (6, layers[0]))
    labels = rng.integers(0, 10, 6)
    trainer = BatchedTrainer(params, activation, output, 0.1, max_batch=6)

    def mean_loss() -> float:
        return trainer.gradients(x, labels) / len(x)

    mean_loss()
    analytic = [g.copy() / len(x) for g in (*trainer.grad_w, *trainer.grad_b)]
    for tensor, grad in zip(
        [*(w for w, _ in params), *(b for _, b in params)], analytic, strict=True
    ):  # central differences with step 1e-6
        np.testing.assert_allclose(grad, numeric_grad(mean_loss, tensor), rtol=1e-5, atol=1e-8)


@pytest.fixture(scope="module")
def mini():
    return load_dataset(MNIST_MINI)


def test_batched_and_per_sample_training_agree_after_several_steps(mini):
    x, y = mini.train_x[:300], mini.train_y[:300]
    batched_params = he_normal([784, 32, 10], seed=5)
    per_sample_params = [(w.copy(), b.copy()) for w, b in batched_params]
    batched = BatchedTrainer(batched_params, "relu", "softmax_cross_entropy", 0.1, 64)
    per_sample = PerSampleTrainer(per_sample_params, "relu", "softmax_cross_entropy", 0.1)
    loss_b = train_epoch(batched, x, y, 64)  # 5 steps, the last one of 44 samples
    loss_p = train_epoch(per_sample, x, y, 64)
    assert loss_b == pytest.approx(loss_p, rel=1e-5)
    for (wb, bb), (wp, bp) in zip(batched_params, per_sample_params, strict=True):
        np.testing.assert_allclose(wb, wp, atol=1e-5)
        np.testing.assert_allclose(bb, bp, atol=1e-5)
    moved = np.abs(batched_params[0][0] - he_normal([784, 32, 10], seed=5)[0][0]).max()
    assert moved > 1e-3  # the steps really changed the weights


def test_an_epoch_of_sgd_lowers_the_training_loss(mini):
    params = he_normal([784, 64, 10], seed=1)
    trainer = BatchedTrainer(params, "relu", "softmax_cross_entropy", 0.1, 128)
    first = train_epoch(trainer, mini.train_x, mini.train_y, 128)
    second = train_epoch(trainer, mini.train_x, mini.train_y, 128)
    assert second < 0.8 * first


def test_he_normal_follows_the_contract_recipe_and_is_reproducible():
    params = he_normal([784, 256, 10], seed=42)
    rng = np.random.default_rng(42)
    for (w, b), (fan_in, fan_out) in zip(params, [(784, 256), (256, 10)], strict=True):
        assert w.dtype == np.float32 and w.shape == (fan_out, fan_in)
        expected = (rng.standard_normal((fan_out, fan_in)) * np.sqrt(2 / fan_in)).astype("f4")
        np.testing.assert_array_equal(w, expected)
        assert b.dtype == np.float32 and not b.any()
    assert np.std(params[0][0]) == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    assert not np.array_equal(params[0][0], he_normal([784, 256, 10], seed=43)[0][0])


def test_count_correct_takes_the_first_maximum_as_the_prediction():
    params = [(np.eye(3, dtype=np.float32), np.zeros(3, np.float32))]
    x = np.array([[1, 0, 0], [0, 2, 0], [0.5, 0.5, 0], [0, 1, 1]], np.float32)
    # predictions: 0, 1, 0 (tie 0/1 -> first), 1 (tie 1/2 -> first)
    assert count_correct(params, "relu", x, np.array([0, 1, 1, 2])) == 2
    assert count_correct(params, {"kind": "relu"}, x, np.array([0, 1, 0, 1])) == 4


def test_sigmoid_output_stays_finite_and_silent_for_huge_logits():
    from python_impl.model import sigmoid_mse

    z = np.array([[-1000.0, 0.0, 1000.0]], np.float32)
    a, delta = np.empty_like(z), np.empty_like(z)
    with np.errstate(all="raise"):
        loss = sigmoid_mse(z, np.array([2]), a, delta)
    np.testing.assert_array_equal(a, [[0.0, 0.5, 1.0]])
    assert loss == pytest.approx(0.25)
