"""The exceptions of dmf_np that more than one layer raises or catches.

Kept in a module that imports nothing of dmf_np, so that every layer (RBM pretraining, fine-tuning,
the experiments and the command line) can name them without importing the others.
"""


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss (or RBM monitor); the last good state is kept."""
