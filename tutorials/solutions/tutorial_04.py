"""Worked solutions to the exercises of tutorial 4 (the learning paths, Eqs. 5-8).

One function per exercise, named like the tutorial's stub. ``dmf_np.exercises.attempt`` loads them
in place of the stubs when ``DMF_EXERCISE_SOLUTIONS=1`` is set, so that the tests can show that each
solution passes the tutorial's own check. Read them after trying the exercise.

Layout reminder: the paper writes examples as columns, the code as rows of an (N, n) matrix, so the
paper's backward product W^T v becomes ``v @ W``.
"""


def my_grad_via_shared_path(delta_s, W_ms):
    """Exercise 4.1: Eq. 7's error into h^x_l, for rows.

    The paper's term is W^{s->x}_l delta_s with W^{s->x}_l = (W^{x->s}_l)^T, for one column delta_s of
    size n^s_l. With one example per row, (W^T d)^T = d^T W, so the whole batch is one product:
    delta_s (N, n^s_l) @ W^{x->s}_l (n^s_l, n^x_l) -> (N, n^x_l). No transpose appears in the code,
    because the weight is stored in the paper's (n_out, n_in) orientation.
    """
    return delta_s @ W_ms


def my_eq5_two_units(P2, fw2, deps_ds2):
    """Exercise 4.2: both terms of Eq. 5 at the input h^x_1 of a 2-unit DMF, by hand.

    Derivation (columns, as in the paper; f' is the sigmoid derivative, f(M)(1 - f(M)) = s(1 - s)):

    * error on M_2:             delta_s2 = dε/ds_2 ⊙ s_2(1 - s_2)
    * top, Eq. 5 with its second term only (no h^x_3):  dε/dh^x_2 = (W^{x->s}_2)^T delta_s2
    * error on h^x_2's pre-activation:  delta_x2 = dε/dh^x_2 ⊙ h^x_2(1 - h^x_2)
    * Eq. 6 with Eq. 8:         dε/ds_1 = (W^s_1)^T delta_s2,  delta_s1 = dε/ds_1 ⊙ s_1(1 - s_1)
    * Eq. 5 at l = 1:           dε/dh^x_1 = (W^x_1)^T delta_x2  +  (W^{x->s}_1)^T delta_s1
                                            (modality path, Eq. 2)  (shared path, Eq. 7)

    In rows every (W)^T v becomes v @ W.
    """
    s1, s2, hx2 = fw2.s[1], fw2.s[2], fw2.h[(0, 2)]
    delta_s2 = deps_ds2 * s2 * (1 - s2)                      # dε/dM_2, (N, 3)
    deps_dhx2 = delta_s2 @ P2["W^{x->s}_2"]                  # top: only the path through s_2, (N, 3)
    delta_x2 = deps_dhx2 * hx2 * (1 - hx2)                   # error on h^x_2's pre-activation
    modality_term = delta_x2 @ P2["W^x_1"]                   # Eq. 2, through h^x_2, (N, 4)
    deps_ds1 = delta_s2 @ P2["W^s_1"]                        # Eq. 6 (Eq. 8's Jacobian as a product)
    delta_s1 = deps_ds1 * s1 * (1 - s1)                      # dε/dM_1
    shared_term = delta_s1 @ P2["W^{x->s}_1"]                # Eq. 7, through s_1, (N, 4)
    return modality_term, shared_term


def my_paths_cut_by_chain(arch_, l):
    """Exercise 4.3: the Eq. 5 terms that the cut ("chain", l) turns to zero.

    The cut drops the Eq. 6 error from s_{l+1} into s_l. Below the top, a shared layer receives error
    only down the shared chain (Eq. 6), so s_l and every s_k under it (k <= l) receive none, and the
    Eq. 7 term of every modality layer h^m_k with k <= l, which is made from dε/ds_k, vanishes.

    The modality terms survive: every h^m_L still receives error from s_L (the head is untouched),
    and that error comes down each modality stack through Eq. 2 to every level below. The shared
    terms above the cut (k > l) are untouched as well. So the answer is the shared term at levels
    1..l, for every modality.
    """
    return {(name, k, "shared") for name in arch_.names for k in range(1, l + 1)}
