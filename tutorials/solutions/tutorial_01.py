"""Solutions to the exercises of tutorial 1 (a sigmoid layer by hand).

Each function has the name of the tutorial's stub; ``DMF_EXERCISE_SOLUTIONS=1`` makes the tutorial
check these instead of the stubs (dmf_np.exercises, tests/test_exercises.py).
"""
import numpy as np


def sigmoid_layer_backward(dy, x, W, y):
    """Exercise 1.1. y = f(a), a = x W^T + b; every line is one local derivative (tutorial 1, section 2)."""
    da = dy * y * (1.0 - y)            # (N, n_out)  f'(a) written with the output: y(1 - y)
    dW = da.T @ x                      # (n_out, n_in)  one outer product per example, summed
    db = da.sum(axis=0)                # (n_out,)  the bias is added to every row
    dx = da @ W                        # (N, n_in)  the error handed to the layer below
    return dx, dW, db


def two_consumer_input_grad(x, W_u, b_u, W_s, b_s, R_u, R_s):
    """Exercise 1.2. x feeds u and s, so dε/dx is the sum of the error through each (Eq. 5):

    dε/dx = (dε/du ⊙ u(1-u)) W_u + (dε/ds ⊙ s(1-s)) W_s, with dε/du = R_u/N and dε/ds = R_s/N.
    """
    n = x.shape[0]
    u = 1.0 / (1.0 + np.exp(-(x @ W_u.T + b_u)))      # (N, n_u)
    s = 1.0 / (1.0 + np.exp(-(x @ W_s.T + b_s)))      # (N, n_s)
    via_u = (R_u / n * u * (1.0 - u)) @ W_u           # path x -> u (like Eq. 2, the modality chain)
    via_s = (R_s / n * s * (1.0 - s)) @ W_s           # path x -> s (like Eq. 7, into the shared layer)
    return via_u + via_s
