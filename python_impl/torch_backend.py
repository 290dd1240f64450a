"""``--backend torch``: the same contract with PyTorch (implementation "python-torch").

An nn.Linear stack named like the model files (``layers.{i}``), started from the same initial
weights as the NumPy reference, trained with torch.optim.SGD on tensors sliced directly from
the in-memory dataset (no DataLoader). torch is an optional extra: ``pip install '.[torch]'``.

On ``--device cuda`` the data is copied to the GPU once, and every step and every evaluation
ends with ``torch.cuda.synchronize()``: CUDA kernels run asynchronously, so without it the
loop's clocks (read right after ``step`` and ``count_correct`` return) could stop before the
GPU finished. Each step already waits for its loss (``.item()``), so the extra wait covers
only the optimizer's update kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from python_impl.data import Dataset
from python_impl.errors import InputError
from python_impl.model import Activation, Params
from python_impl.spec import Spec

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # the optional extra is not installed
    torch = None

NOT_INSTALLED = "--backend torch: PyTorch is not installed; install it with pip install '.[torch]'"


def _mlp(params: Params, activation: Activation) -> nn.Module:
    """An nn.Linear stack holding copies of `params`, (leaky) ReLU between layers."""

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(w.shape[1], w.shape[0]) for w, _ in params)
            with torch.no_grad():
                for layer, (w, b) in zip(self.layers, params, strict=True):
                    layer.weight.copy_(torch.from_numpy(w))
                    layer.bias.copy_(torch.from_numpy(b))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.layers[:-1]:
                x = F.leaky_relu(layer(x), activation.alpha)  # alpha 0 is ReLU
            return self.layers[-1](x)

    return MLP()


class TorchEngine:
    """One model on one device with the data already there."""

    def __init__(
        self, spec: Spec, data: Dataset, params: Params, algorithm: str, device: torch.device
    ) -> None:
        self.device = device
        self.model = _mlp(params, spec.hidden_activation).to(device)
        self.output = spec.output
        self.per_sample = algorithm == "per-sample"
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=spec.learning_rate)
        self.train_x = torch.from_numpy(data.train_x).to(device)
        self.train_y = torch.from_numpy(data.train_y).to(device, torch.int64)
        self.test_x = torch.from_numpy(data.test_x).to(device)
        self.test_y = torch.from_numpy(data.test_y).to(device, torch.int64)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample losses: -log softmax(z)[y], or sum_j (sigmoid(z)_j - onehot_j)^2."""
        z = self.model(x)
        if self.output == "softmax_cross_entropy":
            return F.cross_entropy(z, y, reduction="none")
        onehot = F.one_hot(y, z.shape[1]).to(z.dtype)
        return (torch.sigmoid(z) - onehot).square().sum(dim=1)

    def step(self, batch: slice) -> float:
        """One SGD step on the mean loss of the batch; returns the loss sum (float64)."""
        x, y = self.train_x[batch], self.train_y[batch]
        self.optimizer.zero_grad(set_to_none=True)
        if self.per_sample:  # backward one sample at a time: .grad sums loss_i / B
            total = 0.0
            for i in range(len(x)):
                loss = self.losses(x[i : i + 1], y[i : i + 1])
                total += loss.item()
                if not np.isfinite(total):
                    return total
                (loss.sum() / len(x)).backward()
        else:
            losses = self.losses(x, y)
            total = losses.detach().sum(dtype=torch.float64).item()
            if not np.isfinite(total):
                return total
            losses.mean().backward()
        self.optimizer.step()
        self.synchronize()
        return total

    def count_correct(self) -> int:
        with torch.no_grad():
            predicted = self.model(self.test_x).argmax(dim=1)  # first maximum
            correct = int((predicted == self.test_y).sum().item())
        self.synchronize()
        return correct

    def synchronize(self) -> None:
        """On CUDA, wait until the GPU has run every queued kernel (a no-op on the CPU)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def params(self) -> Params:
        return [
            (layer.weight.detach().cpu().numpy().copy(), layer.bias.detach().cpu().numpy().copy())
            for layer in self.model.layers
        ]


class TorchBackend:
    """``--backend torch [--device cpu|cuda]``."""

    implementation = "python-torch"

    def __init__(self, device: str) -> None:
        if torch is None:
            raise InputError(NOT_INSTALLED)
        if device == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda: torch reports no usable CUDA device")
        self.device = torch.device(device)

    def configure(self, threads: int) -> dict[str, Any]:
        torch.set_num_threads(threads)
        self._limits = threadpool_limits(limits=threads, user_api="blas")  # NumPy, for loading
        return {
            "torch": torch.__version__,
            "device": str(self.device),
            "torch_threads": torch.get_num_threads(),
            "numpy": np.__version__,
        }

    def engine(self, spec: Spec, data: Dataset, params: Params, algorithm: str) -> TorchEngine:
        return TorchEngine(spec, data, params, algorithm, self.device)
