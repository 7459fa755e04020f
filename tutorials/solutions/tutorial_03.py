"""Solutions to the exercises of tutorial 3 (EMF, IMF and DMF, forward).

Each function has the name of the tutorial's stub; ``DMF_EXERCISE_SOLUTIONS=1`` makes the tutorial
check these instead of the stubs (dmf_np.exercises, tests/test_exercises.py).
"""


def n_paths_dmf(L):
    """Exercise 3.1. A path from h^x_1 to s_L climbs the modality stack to some level l, crosses by
    the fusion edge h^x_l -> s_l, and climbs the shared chain s_l -> ... -> s_L. It can cross only
    once (no edge leads from a shared layer back to a modality layer), so there is one path per
    crossing level l = 1..L: L paths (EMF and IMF keep one crossing each, so one path)."""
    return L


def dmf_param_count(modality_sizes, shared_sizes, n_classes):
    """Exercise 3.2. Every edge of the table at the top of tutorial 3 is one weight matrix
    (n_destination x n_source); every layer above the inputs has a bias; the classifier reads s_L."""
    L = len(shared_sizes)
    total = 0
    for sizes in modality_sizes:
        total += sum(sizes[l + 1] * sizes[l] for l in range(L - 1))      # modality chain W^m_l (Eq. 4)
        total += sum(sizes[1:])                                          # biases of h^m_2 .. h^m_L
        total += sum(shared_sizes[l] * sizes[l] for l in range(L))       # fusion W^(m->s)_l (Eq. 3)
    total += sum(shared_sizes[l + 1] * shared_sizes[l] for l in range(L - 1))  # shared chain W^s_l
    total += sum(shared_sizes)                                           # biases of s_1 .. s_L
    total += n_classes * shared_sizes[-1] + n_classes                    # classifier W^out, b^out
    return total
