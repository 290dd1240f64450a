"""The MLP: He-normal init, forward/backward (batched and per-sample), SGD, test scoring.

Notation (rows are samples, B = batch size, L = number of weight layers, l = 1..L; the
code indexes layers from 0 with k = l - 1):

    a_0 = X                                (B, n_0) input pixels
    z_l = a_{l-1} W_l^T + b_l              (B, n_l) W_l is (n_l, n_{l-1}), b_l is (n_l,)
    a_l = f(z_l)  for l < L                f = relu max(z, 0) or leaky_relu max(z, alpha z)
    output a_L:
      softmax_cross_entropy  p = softmax(z_L),  loss_i = log sum_j exp(z_ij) - z_{i,y_i}
                             delta_L = p - onehot(y)
      sigmoid_mse            a = 1 / (1 + exp(-z_L)),  loss_i = sum_j (a_ij - onehot_ij)^2
                             delta_L = 2 (a - onehot) a (1 - a)
    delta_l = (delta_{l+1} W_{l+1}) * f'(z_l)   f'(z) = 1 if z > 0 else alpha (0 for relu)
    dL/dW_l = delta_l^T a_{l-1} / B,  dL/db_l = sum_i delta_{l,i} / B
    SGD: W_l -= lr dL/dW_l,  b_l -= lr dL/db_l

Training runs in float32 (the trainers use the dtype of the weights they are given, so tests
can also run them in float64); per-sample losses are summed in float64. The trainers keep their
buffers from one mini-batch to the next (`out=` arguments, views for the smaller last batch).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

Params = list[tuple[np.ndarray, np.ndarray]]  # per layer: W (out, in), b (out,), float32
F32 = np.float32


@dataclass(frozen=True)
class Activation:
    """The hidden layers' activation: relu, or leaky_relu with slope alpha in [0, 1)."""

    kind: str = "relu"  # "relu" or "leaky_relu"
    alpha: float = 0.0  # slope for z <= 0 (0 for relu)


def as_activation(value: Activation | str | Mapping) -> Activation:
    """An Activation from itself, a kind name, or the spec's JSON object."""
    if isinstance(value, Activation):
        return value
    if isinstance(value, str):
        return Activation(value)
    return Activation(value["kind"], float(value.get("alpha", 0.0)))


def he_normal(layers: list[int], seed: int) -> Params:
    """He-normal weights W ~ N(0, 2 / fan_in) from numpy's default_rng(seed), zero biases."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(layers):
        w = (rng.standard_normal((fan_out, fan_in)) * np.sqrt(2 / fan_in)).astype(F32)
        params.append((w, np.zeros(fan_out, F32)))
    return params


def activate(z: np.ndarray, out: np.ndarray, alpha: float) -> None:
    """out = f(z) = max(z, alpha z), which for alpha in [0, 1) is (leaky) ReLU."""
    if alpha == 0.0:
        np.maximum(z, 0, out=out)
    else:
        np.multiply(z, alpha, out=out)
        np.maximum(z, out, out=out)


def backprop_activation(
    delta: np.ndarray, z: np.ndarray, pos: np.ndarray, scratch: np.ndarray, alpha: float
) -> None:
    """delta *= f'(z), with f'(z) = 1 if z > 0 else alpha (so 0 at z = 0 for ReLU).

    pos (bool) and scratch (float32) are buffers shaped like z; f'(z) = max([z > 0], alpha)
    is exact because alpha is in [0, 1).
    """
    np.greater(z, 0, out=pos)
    if alpha == 0.0:
        np.multiply(delta, pos, out=delta)
    else:
        np.maximum(pos, scratch.dtype.type(alpha), out=scratch)
        np.multiply(delta, scratch, out=delta)


def softmax_cross_entropy(
    z: np.ndarray, labels: np.ndarray, p: np.ndarray, delta: np.ndarray
) -> float:
    """Fills p = softmax(z), delta = p - onehot; returns sum_i -log p_{i,y_i} (float64)."""
    rows = np.arange(len(z))
    m = z.max(axis=1, keepdims=True)  # subtract the row max: exp never overflows
    np.subtract(z, m, out=p)
    z_label = p[rows, labels]  # z_{i,y_i} - m_i
    np.exp(p, out=p)
    s = p.sum(axis=1, keepdims=True)
    loss = float(np.sum(np.log(s[:, 0]) - z_label, dtype=np.float64))
    np.divide(p, s, out=p)
    np.copyto(delta, p)
    delta[rows, labels] -= 1
    return loss


def sigmoid_mse(z: np.ndarray, labels: np.ndarray, a: np.ndarray, delta: np.ndarray) -> float:
    """Fills a = sigmoid(z), delta = 2 (a - y) a (1 - a); returns sum_i sum_j (a_ij - y_ij)^2."""
    with np.errstate(over="ignore", under="ignore"):  # exp(-z) = inf (z < -88): a = 0, right
        np.negative(z, out=a)
        np.exp(a, out=a)
        a += 1
        np.reciprocal(a, out=a)
    np.copyto(delta, a)
    delta[np.arange(len(z)), labels] -= 1  # a - y with y = onehot(label)
    loss = float(np.sum(np.square(delta), dtype=np.float64))
    delta *= 2 * a * (1 - a)
    return loss


OUTPUTS = {"softmax_cross_entropy": softmax_cross_entropy, "sigmoid_mse": sigmoid_mse}


def sgd_update(
    params: Params, grad_w: list[np.ndarray], grad_b: list[np.ndarray], scale: float
) -> None:
    """W -= scale * grad_w, b -= scale * grad_b, with scale = lr / B for summed gradients.

    The gradient buffers are scaled in place (no temporaries); they are recomputed next step.
    """
    for (w, b), gw, gb in zip(params, grad_w, grad_b, strict=True):
        s = w.dtype.type(scale)
        gw *= s
        w -= gw
        gb *= s
        b -= gb


class Trainer:
    """What both algorithms share: the model, its settings, per-layer buffers, the SGD step.

    Each layer's z, a, delta, pos (z > 0, where f'(z) = 1) and fprime (f'(z) for leaky ReLU)
    are shaped rows + (n_l,): rows is (max_batch,) for batches, () for one sample's vectors.
    """

    def __init__(
        self,
        params: Params,
        activation: Activation | str | Mapping,
        output: str,
        learning_rate: float,
        rows: tuple[int, ...] = (),
    ) -> None:
        self.params = params  # updated in place by step()
        self.alpha = as_activation(activation).alpha
        self.output = OUTPUTS[output]
        self.learning_rate = learning_rate
        self.grad_w = [np.empty_like(w) for w, _ in params]  # sums over the batch (not / B)
        self.grad_b = [np.empty_like(b) for _, b in params]
        dtype = params[0][0].dtype

        def buffers(kind: np.dtype | type = dtype) -> list[np.ndarray]:
            return [np.empty((*rows, w.shape[0]), kind) for w, _ in params]

        self.z, self.a, self.delta = buffers(), buffers(), buffers()
        self.pos, self.fprime = buffers(np.bool_), buffers()

    def gradients(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Fills grad_w/grad_b with the batch's gradient sums; returns the loss sum."""
        raise NotImplementedError

    def step(self, x: np.ndarray, labels: np.ndarray) -> float:
        """One SGD step on the batch; returns its loss sum (not finite: no update is made)."""
        loss = self.gradients(x, labels)
        if np.isfinite(loss):
            sgd_update(self.params, self.grad_w, self.grad_b, self.learning_rate / len(x))
        return loss


class BatchedTrainer(Trainer):
    """SGD on whole mini-batches: one matrix-matrix product per layer and pass."""

    def __init__(
        self,
        params: Params,
        activation: Activation | str | Mapping,
        output: str,
        learning_rate: float,
        max_batch: int,
    ) -> None:
        super().__init__(params, activation, output, learning_rate, rows=(max_batch,))

    def gradients(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Forward and backward on a batch; fills grad_w/grad_b (sums); returns the loss sum."""
        n = len(x)
        last = len(self.params) - 1
        a_prev = x
        for k, (w, b) in enumerate(self.params):  # z_l = a_{l-1} W_l^T + b_l
            z = self.z[k][:n]
            np.matmul(a_prev, w.T, out=z)
            z += b
            if k < last:
                a_prev = self.a[k][:n]
                activate(z, a_prev, self.alpha)
        loss = self.output(self.z[last][:n], labels, self.a[last][:n], self.delta[last][:n])
        for k in range(last, -1, -1):
            delta = self.delta[k][:n]
            a_prev = self.a[k - 1][:n] if k > 0 else x
            np.matmul(delta.T, a_prev, out=self.grad_w[k])  # sum_i delta_{l,i}^T a_{l-1,i}
            np.sum(delta, axis=0, out=self.grad_b[k])
            if k > 0:  # delta_{l-1} = (delta_l W_l) * f'(z_{l-1}); not for the input
                below = self.delta[k - 1][:n]
                np.matmul(delta, self.params[k][0], out=below)
                below_z, pos, fprime = (b[k - 1][:n] for b in (self.z, self.pos, self.fprime))
                backprop_activation(below, below_z, pos, fprime, self.alpha)
        return loss


class PerSampleTrainer(Trainer):
    """SGD with forward/backward one sample at a time, gradients summed, one update per batch.

    Per sample x (a vector): z_l = W_l a_{l-1} + b_l, and the gradient sums grow by the outer
    product delta_l a_{l-1}^T and by delta_l (the original Rust program's method).
    """

    def __init__(
        self,
        params: Params,
        activation: Activation | str | Mapping,
        output: str,
        learning_rate: float,
    ) -> None:
        super().__init__(params, activation, output, learning_rate)
        self.outer = [np.empty_like(w) for w, _ in params]  # delta_l a_{l-1}^T of one sample

    def sample(self, x: np.ndarray, label: np.ndarray) -> float:
        """Forward and backward on one sample; adds its gradients to the sums; returns its loss."""
        last = len(self.params) - 1
        a_prev = x
        for k, (w, b) in enumerate(self.params):  # z_l = W_l a_{l-1} + b_l
            np.matmul(w, a_prev, out=self.z[k])
            self.z[k] += b
            if k < last:
                activate(self.z[k], self.a[k], self.alpha)
                a_prev = self.a[k]
        row = np.newaxis  # the output functions take rows of samples: a batch of one
        loss = self.output(self.z[last][row], label, self.a[last][row], self.delta[last][row])
        for k in range(last, -1, -1):
            delta = self.delta[k]
            a_prev = self.a[k - 1] if k > 0 else x
            np.multiply.outer(delta, a_prev, out=self.outer[k])  # delta_l a_{l-1}^T
            self.grad_w[k] += self.outer[k]
            self.grad_b[k] += delta
            if k > 0:  # delta_{l-1} = (W_l^T delta_l) * f'(z_{l-1}); not for the input
                np.matmul(delta, self.params[k][0], out=self.delta[k - 1])
                backprop_activation(
                    self.delta[k - 1],
                    self.z[k - 1],
                    self.pos[k - 1],
                    self.fprime[k - 1],
                    self.alpha,
                )
        return loss

    def gradients(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Sums each sample's gradients into grad_w/grad_b; returns the loss sum."""
        for g in (*self.grad_w, *self.grad_b):
            g.fill(0)
        return sum(self.sample(x[i], labels[i : i + 1]) for i in range(len(x)))


def batches(n: int, batch_size: int) -> Iterator[slice]:
    """The mini-batches of an epoch in file order; the last one may be smaller."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def train_epoch(trainer: Trainer, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """One epoch of SGD steps over (x, y) with preallocated state; returns the loss sum.

    This is the library's epoch without the CLI's bookkeeping, for benchmarks to time.
    """
    return sum(trainer.step(x[s], y[s]) for s in batches(len(x), batch_size))


def count_correct(
    params: Params, activation: Activation | str | Mapping, x: np.ndarray, y: np.ndarray
) -> int:
    """Test samples whose first maximal output is the label (argmax of z_L: f is monotone)."""
    alpha = as_activation(activation).alpha
    a = np.asarray(x, dtype=F32)
    for k, (w, b) in enumerate(params):
        z = a @ w.T
        z += b
        if k < len(params) - 1:
            a = np.empty_like(z)
            activate(z, a, alpha)
        else:
            a = z
    return int(np.count_nonzero(a.argmax(axis=1) == y))
