"""The NumPy reference MLP contender (and the optional PyTorch one): ``python -m python_impl``."""

__version__ = "0.1.0"
