"""Solutions to the exercises of tutorial 6 (Fig. 4: what our reproduction shows).

Each function has the name of the tutorial's stub; ``DMF_EXERCISE_SOLUTIONS=1`` makes the tutorial
check these instead of the stubs (dmf_np.exercises, tests/test_exercises.py).
"""
import numpy as np


def predicted_loss_order():
    """Exercise 6.1. A prediction, with its reasons (the check then compares it with the committed run):

    * after CD pretraining, EMF is one stack over both halves whose first RBM sees all 784 pixels:
      its features start closest to what the classifier needs, so it should fit the training set
      fastest;
    * DMF has about 2.5 times the parameters, and each of its shared layers sums three inputs, each
      pretrained separately (the s_2 RBM has 1,536 visible units): its layers start least matched
      to each other, so, at an equal budget of epochs and rates, its training loss should be the
      slowest to fall;
    * IMF sits between them.
    """
    return ["emf", "imf", "dmf"]


def paired_summary(a, b):
    """Exercise 6.2. The differences are taken seed by seed first; only then averaged. Their spread
    (ddof 1, a sample of seeds) is what a paired comparison judges a mean difference against."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)   # (n_seeds,)
    return float(diff.mean()), float(diff.std(ddof=1)), int((diff < 0).sum())
