"""Regenerate softmax_cross_entropy.json: expected values by float64 central differences.

The expected gradients are computed numerically from the loss alone, never from the
analytic formula (softmax - onehot) / B that the implementations use, so the vectors
check that formula independently. Run: python tests/vectors/generate_softmax_cross_entropy.py
"""

import itertools
import json
from pathlib import Path

import numpy as np

H = 1e-6  # central-difference step; float64 error ~ H^2 + eps/H ~ 1e-10


def loss_of_logits(z: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the batch of -log softmax(z)[label], in float64 (log-sum-exp form)."""
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(labels)), labels]))


def numeric_grad(f, x: np.ndarray) -> np.ndarray:
    """Central differences of scalar f at x, element by element."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + H
        up = f()
        x[idx] = old - H
        down = f()
        x[idx] = old
        g[idx] = (up - down) / (2 * H)
    return g


def logits_case(name: str, z: np.ndarray, labels: np.ndarray) -> dict:
    """Loss and d loss / d logits for one batch of logits (rows are samples)."""
    return {
        "name": name,
        "logits": z.tolist(),
        "labels": labels.tolist(),
        "expected_loss": loss_of_logits(z, labels),
        "expected_grad_logits": numeric_grad(lambda: loss_of_logits(z, labels), z).tolist(),
    }


def network_case(rng: np.random.Generator) -> dict:
    """A 4-3-2 ReLU network, batch of 3: loss and gradients of every weight and bias."""
    sizes = [4, 3, 2]
    weights = [rng.uniform(-1, 1, (o, i)) for i, o in itertools.pairwise(sizes)]
    biases = [rng.uniform(-0.5, 0.5, o) for o in sizes[1:]]
    x = rng.uniform(0, 1, (3, 4))
    labels = np.array([1, 0, 1])

    def loss() -> float:
        a = x
        for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
            a = a @ w.T + b
            if k < len(weights) - 1:
                a = np.maximum(a, 0.0)
        return loss_of_logits(a, labels)

    return {
        "name": "relu 4-3-2 network, batch of 3",
        "layers": sizes,
        "hidden_activation": {"kind": "relu"},
        "weights": [w.tolist() for w in weights],
        "biases": [b.tolist() for b in biases],
        "inputs": x.tolist(),
        "labels": labels.tolist(),
        "expected_loss": loss(),
        "expected_weight_gradients": [numeric_grad(loss, w).tolist() for w in weights],
        "expected_bias_gradients": [numeric_grad(loss, b).tolist() for b in biases],
    }


def main() -> None:
    rng = np.random.default_rng(20261128)
    doc = {
        "schema_version": 1,
        "description": "Softmax cross-entropy, loss = mean over the batch of "
        "-log softmax(z)[label]. Expected values are float64 central finite differences of "
        "the loss (step 1e-6), independent of the analytic gradient. Implementations compute "
        "in float32, hence the tolerance.",
        "generator": "tests/vectors/generate_softmax_cross_entropy.py",
        "tolerance": {"abs": 1e-5, "rel": 1e-4},
        "logits_cases": [
            logits_case("one sample, three classes", np.array([[1.0, 2.0, 0.5]]), np.array([1])),
            logits_case(
                "batch of 4, ten classes", rng.normal(0, 2, (4, 10)), np.array([3, 0, 9, 3])
            ),
            logits_case(
                "large logits (needs max subtraction)",
                np.array([[1000.0, 999.0, 998.0], [-5.0, 50.0, 49.5]]),
                np.array([2, 1]),
            ),
            logits_case("uniform logits", np.zeros((2, 5)), np.array([0, 4])),
        ],
        "network_cases": [network_case(rng)],
    }
    out = Path(__file__).with_name("softmax_cross_entropy.json")
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
