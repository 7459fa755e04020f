"""Back-propagation through the fusion graph: Eqs. 2 and 5-8 of the paper, one function each.

Notation (the paper's, for modality x; every modality m is treated the same way):

* h^x_l, s_l        activations of modality layer l and shared layer l, rows of shape (N, n)
* M_l               the pre-activation of s_l, so s_l = f(M_l) (Eq. 3)
* delta             dE/d(pre-activation) = dE/d(activation) * f(M)(1 - f(M)); formed once per layer
                    by :func:`dmf_np.layers.sigmoid_backward`, because it serves twice: it carries the
                    error down (these functions) and it gives the layer's weight gradients.

With batches as rows, a column-vector product ``W^T v`` of the paper becomes ``v @ W``. The paper
writes the reverse weight W^{s->x}_l; it is the transpose of W^{x->s}_l, and since weights here have
the paper's (n_out, n_in) orientation, ``delta @ W^{x->s}_l`` is exactly the paper's W^{s->x}_l delta.

Learning paths (Fig. 2). Eq. 5 splits dE/dh^x_l into a *modality* term, which arrives through the
modality layer above (h^x_{l+1}), and a *shared* term, which arrives through the shared layer of the
same unit (s_l; the cross-modal term of Eq. 7). :func:`dmf_np.learning_paths.learning_paths` returns
the two separately for every modality activation and every parameter. :func:`backward` can *cut*
chosen paths, for ablations:

* ``("shared", m, l)``    drop the Eq. 7 term into h^m_l (the error from s_l into modality m)
* ``("modality", m, l)``  drop the first term of Eq. 5 into h^m_l (the error from h^m_{l+1})
* ``("chain", l)``        drop the Eq. 6 error into s_l (the error from s_{l+1})

m may be the modality's index or name. A cut path contributes zero everywhere below it.

Fan-in normalisation (:attr:`dmf_np.fusion.Architecture.fan_in_norm`) divides the weighted inputs of
s_l by k_l; :func:`grad_fan_in_sum` carries that factor into the backward pass, and the Eq. 6 and
Eq. 7 functions below then take its result in place of delta_s.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .backend import array_module
from .checks import check_labels, check_modalities, check_params
from .fusion import B_OUT, W_OUT, Architecture, Forward, forward
from .layers import (NO_WORKSPACE, affine_backward, sigmoid_backward, softmax_cross_entropy,
                     softmax_cross_entropy_backward)

PATHS = ("modality", "shared")  # the two terms of Eq. 5, named by the layer the error comes through


# --- the equations ---------------------------------------------------------------------------

def grad_via_modality_path(delta_h_next, W_m, out=None):
    """Eq. 2, and the first term of Eq. 5: dE/dh^x_{l+1} * dh^x_{l+1}/dh^x_l.

    With delta_h_next = dE/dh^x_{l+1} * f'(W^x_l h^x_l), the product is (W^x_l)^T delta_h_next,
    i.e. ``delta_h_next @ W^x_l`` for rows.
    delta_h_next: (N, n_{l+1}); W_m = W^x_l: (n_{l+1}, n_l) -> (N, n_l). ``out``: optional buffer.
    """
    return array_module(delta_h_next).matmul(delta_h_next, W_m, out=out)


def grad_via_shared_path(delta_s, W_ms, out=None):
    """Eq. 7, the second term of Eq. 5: dE/ds_l * ds_l/dh^x_l = W^{s->x}_l (dE/ds_l * f(M_l)(1 - f(M_l))).

    The paper's dE/ds_l is itself Eq. 6 below the top (at l = L it comes from the task's head), and
    its W^{s->x}_l is (W^{x->s}_l)^T. With delta_s = dE/ds_l * f(M_l)(1 - f(M_l)) this is
    ``delta_s @ W^{x->s}_l``. Because M_l also holds W^{y->s}_l h^y_l, the error that reaches h^x_l
    this way carries supervision from modality y: the paper's cross-modal, hierarchical supervision.
    With fan-in normalisation, delta_s is :func:`grad_fan_in_sum`'s dE/dA_l = delta_s / k_l.
    delta_s: (N, |s_l|); W_ms = W^{x->s}_l: (|s_l|, n_l) -> (N, n_l). ``out``: optional buffer.
    """
    return array_module(delta_s).matmul(delta_s, W_ms, out=out)


def grad_modality_activation(modality_term, shared_term, out=None):
    """Eq. 5: dE/dh^x_l = (term through h^x_{l+1}, Eq. 2) + (term through s_l, Eq. 7).

    Either term may be None where its edge does not exist (IMF has no shared term below the top,
    EMF no modality layers, and at l = L there is no h^x_{L+1}) or where the path is cut. Returns
    an (N, n_l) array, or None when no error reaches h^x_l at all. ``out`` (may be one of the
    terms, which is then overwritten) receives the sum when both terms exist.
    """
    if modality_term is None:
        return shared_term
    if shared_term is None:
        return modality_term
    return array_module(modality_term).add(modality_term, shared_term, out=out)


def grad_shared_activation(delta_s_next, W_s, out=None):
    """Eq. 6: dE/ds_l = dE/ds_{l+1} * ds_{l+1}/ds_l, with the Jacobian of Eq. 8.

    Eq. 6 leaves the sigmoid derivative to Eq. 8; it is in delta_s_next = dE/ds_{l+1} * f(M_{l+1})
    (1 - f(M_{l+1})), and the product is (W^s_l)^T delta_s_next, i.e. ``delta_s_next @ W^s_l``.
    With fan-in normalisation, delta_s_next is :func:`grad_fan_in_sum`'s dE/dA_{l+1} = delta_s_next / k_{l+1}.
    delta_s_next: (N, |s_{l+1}|); W_s = W^s_l: (|s_{l+1}|, |s_l|) -> (N, |s_l|). ``out``: optional buffer.
    """
    return array_module(delta_s_next).matmul(delta_s_next, W_s, out=out)


def grad_fan_in_sum(delta_s, k, out=None):
    """Fan-in normalisation's backward (not in the paper): dE/dA_l = (1/k_l) dE/dM_l.

    The fan-in-normalised shared layer is M_l = A_l / k_l + b^s_l, with A_l = sum_m W^{m->s}_l h^m_l
    + W^s_{l-1} s_{l-1} the weighted inputs of Eq. 3 (:func:`dmf_np.fusion.shared_pre_activation`).
    Every weight feeding s_l, and every layer those weights read, sees the error through A_l, so
    this one factor 1/k_l reaches all of them: the weight gradients (dE/dW = (dE/dA_l)^T x), the
    Eq. 7 error into each h^m_l and the Eq. 6 error into s_{l-1}, which take this result in place
    of delta_s. The bias b^s_l is outside A_l and keeps delta_s.
    delta_s = dE/dM_l: (N, |s_l|); k = k_l (1 without fan-in normalisation, the paper's Eq. 3, which
    returns delta_s itself, untouched) -> (N, |s_l|). ``out``: optional buffer.
    """
    if k == 1:
        return delta_s
    return array_module(delta_s).divide(delta_s, k, out=out)


def shared_to_shared_jacobian(s_next, W_s):
    """Eq. 8, explicitly: ds_{l+1}/ds_l = diag(f(M_{l+1})(1 - f(M_{l+1}))) W^s_l, per example.

    The paper writes (W^s_l)^T f(M_{l+1})(1 - f(M_{l+1})): the transpose of this matrix, i.e. the map
    that sends an error on s_{l+1} (a column) to an error on s_l. The diagonal factor is the sigmoid
    derivative, expressed through the output s_{l+1} = f(M_{l+1}). Used for teaching and tests; the
    training path applies it as a product (:func:`grad_shared_activation`) without forming it.
    The plain network's: with fan-in normalisation the matrix is divided by k_{l+1}.
    s_next: (N, |s_{l+1}|); W_s: (|s_{l+1}|, |s_l|) -> (N, |s_{l+1}|, |s_l|).
    """
    return (s_next * (1 - s_next))[:, :, None] * W_s[None, :, :]


def shared_to_modality_jacobian(s, W_ms):
    """The Jacobian inside Eq. 7: ds_l/dh^x_l = diag(f(M_l)(1 - f(M_l))) W^{x->s}_l, per example.

    s: (N, |s_l|); W_ms: (|s_l|, n_l) -> (N, |s_l|, n_l). For teaching and tests; the plain network's
    (with fan-in normalisation the matrix is divided by k_l).
    """
    return (s * (1 - s))[:, :, None] * W_ms[None, :, :]


# --- the whole backward pass -----------------------------------------------------------------

@dataclass
class Backward:
    """Everything the backward pass found.

    grads: dE/dtheta for every parameter, keyed like the parameters.
    dh[(m, l)]: dE/dh^m_l (N, n_l), for every modality layer that received error (inputs, l = 1,
        only when asked for). ds[l]: dE/ds_l (N, |s_l|).
    """

    grads: dict
    dh: dict
    ds: dict


def normalize_cuts(cut, arch: Architecture) -> frozenset:
    """Validated cuts as a frozenset of ("shared"|"modality", m_index, l) and ("chain", l)."""
    out = set()
    for c in cut or ():
        if not isinstance(c, tuple) or not c:
            raise ValueError(f"a cut is a tuple like ('shared', 'x', 2) or ('chain', 3); got {c!r}")
        kind = c[0]
        if kind == "chain" and len(c) == 2:
            l = int(c[1])
            if not arch.has_shared_chain(l + 1):
                raise ValueError(f"cut {c!r}: no edge s_{l} -> s_{l + 1} in {arch.scheme.upper()}")
            out.add(("chain", l))
        elif kind in PATHS and len(c) == 3:
            m = arch.names.index(c[1]) if c[1] in arch.names else c[1]
            if not isinstance(m, int) or not 0 <= m < arch.M:
                raise ValueError(f"cut {c!r}: unknown modality {c[1]!r}; modalities are {arch.names}")
            l = int(c[2])
            if l not in arch.modality_levels():
                raise ValueError(f"cut {c!r}: {arch.scheme.upper()} has no layer h^{arch.names[m]}_{l}")
            out.add((kind, m, l))
        else:
            raise ValueError(f"unknown cut {c!r}; use ('shared', m, l), ('modality', m, l) or ('chain', l)")
    return frozenset(out)


def cross_modal_cuts(arch: Architecture) -> tuple:
    """Cuts of every shared-path error into the modality layers of levels 2..L-1.

    Level 1 is not cut: its layers are the inputs, where an error changes no gradient. What is left
    is the single path of IMF (error enters the modality stacks only at s_L), so comparing a DMF
    trained with and without these cuts measures what Eq. 7 contributes.
    """
    return tuple(("shared", m, l) for l in arch.fusion_levels() if 2 <= l < arch.L for m in range(arch.M))


def shared_layer_inputs(arch: Architecture, fw: Forward, l: int) -> list:
    """(weight key, input activation) for every edge into s_l: (W^{m->s}_l, h^m_l)..., (W^s_{l-1}, s_{l-1})."""
    edges = [(arch.W_fuse(m, l), fw.h[(m, l)]) for m in range(arch.M)] if l in arch.fusion_levels() else []
    return edges + ([(arch.W_sh(l - 1), fw.s[l - 1])] if arch.has_shared_chain(l) else [])


def backward(params: dict, fw: Forward, dE_dtop, cut=(), input_grads=False, workspace=NO_WORKSPACE) -> Backward:
    """Back-propagate dE/ds_L (from any head) through the fusion graph of ``fw.arch``: Eqs. 5-8.

    Walks the units from the top, l = L .. 1. At each level it first finishes the shared layer
    (Eq. 6 brings its error from s_{l+1}), then each modality layer (Eq. 5 = Eq. 2 term + Eq. 7
    term). dE_dtop: (N, |s_L|). Returns a :class:`Backward`; see the module docstring for ``cut``.
    ``workspace``: a :class:`dmf_np.layers.Workspace` whose buffers receive every error, delta and
    gradient (the training loop's; the results are valid until its next use). The default allocates.
    """
    arch, cuts, xp = fw.arch, normalize_cuts(cut, fw.arch), array_module(dE_dtop)
    grads, dh, ds, delta_h = {}, {}, {}, {}

    def buf(name, shape):  # where a result goes: a workspace buffer, or None (allocate)
        return workspace.buffer(name, shape, dE_dtop)

    delta_A_next = None  # dE/dA_{l+1}, the error of the weighted inputs of s_{l+1} (grad_fan_in_sum)
    for l in range(arch.L, 0, -1):
        # the shared layer s_l: dE/ds_l from the head at the top, else Eq. 6 through s_{l+1}
        delta_A, n_s = None, (len(dE_dtop), arch.shared_sizes[l - 1])
        if l == arch.L:
            ds[l] = dE_dtop
        elif delta_A_next is not None and arch.has_shared_chain(l + 1) and ("chain", l) not in cuts:
            ds[l] = grad_shared_activation(delta_A_next, params[arch.W_sh(l)], out=buf(("ds", l), n_s))
        if l in ds:
            delta_s = sigmoid_backward(ds[l], fw.s[l], out=buf(("delta_s", l), n_s))   # dE/dM_l
            grads[arch.b_sh(l)] = xp.sum(delta_s, axis=0, out=buf(("grad", arch.b_sh(l)), n_s[1:]))
            # what the weights feeding s_l and their inputs see: dE/dA_l, delta_s itself unless fan-in
            # normalised; written over delta_s, whose last reader (b^s_l's gradient) is done
            delta_A = grad_fan_in_sum(delta_s, arch.shared_divisor(l), out=delta_s)
            for key, x in shared_layer_inputs(arch, fw, l):
                grads[key] = xp.matmul(delta_A.T, x, out=buf(("grad", key), params[key].shape))
        # each modality layer h^m_l: Eq. 5 = (error through h^m_{l+1}, Eq. 2) + (through s_l, Eq. 7)
        for m in range(arch.M):
            if l not in arch.modality_levels() or (l == 1 and not input_grads):
                continue
            n_h = (len(dE_dtop), arch.modality_sizes[m][l - 1])
            via_modality = via_shared = None
            if (m, l + 1) in delta_h and ("modality", m, l) not in cuts:
                via_modality = grad_via_modality_path(delta_h[(m, l + 1)], params[arch.W_mod(m, l)],
                                                      out=buf(("dh_modality", m, l), n_h))
            if delta_A is not None and l in arch.fusion_levels() and ("shared", m, l) not in cuts:
                via_shared = grad_via_shared_path(delta_A, params[arch.W_fuse(m, l)], out=buf(("dh_shared", m, l), n_h))
            if via_modality is None and via_shared is None:
                continue
            dh[(m, l)] = grad_modality_activation(via_modality, via_shared, out=buf(("dh", m, l), n_h))
            if l == 1:
                continue  # an input: no weights below it
            delta_h[(m, l)] = sigmoid_backward(dh[(m, l)], fw.h[(m, l)], out=buf(("delta_h", m, l), n_h))
            W, b = arch.W_mod(m, l - 1), arch.b_mod(m, l)
            out = (None, buf(("grad", W), params[W].shape), buf(("grad", b), n_h[1:]))
            _, grads[W], grads[b] = affine_backward(delta_h[(m, l)], fw.h[(m, l - 1)], None, need_dx=False, out=out)
        delta_A_next = delta_A
    for key, value in params.items():  # parameters no error reached (every path into them cut)
        if key not in grads and key not in (W_OUT, B_OUT):
            grads[key] = xp.zeros_like(value)
    return Backward(grads, dh, ds)


class HeadGrads(NamedTuple):
    """The classifier head's share of the backward pass (:func:`classifier_loss`)."""

    loss: object    # E, the mean cross-entropy (a 0-d array)
    dW_out: object  # dE/dW^out: (n_classes, |s_L|)
    db_out: object  # dE/db^out: (n_classes,)
    d_top: object   # dE/ds_L: (N, |s_L|), where :func:`backward` starts


def classifier_loss(params: dict, fw: Forward, labels, workspace=NO_WORKSPACE) -> HeadGrads:
    """Softmax cross-entropy of the classifier on s_L (Fig. 3, left) and its gradients.

    ``workspace``: optional :class:`dmf_np.layers.Workspace` for the three gradients.
    """
    loss, probs = softmax_cross_entropy(fw.logits, labels)
    dlogits = softmax_cross_entropy_backward(probs, labels)
    W = params[W_OUT]
    out = (workspace.buffer(("ds", fw.arch.L), fw.top.shape, dlogits),
           workspace.buffer(("grad", W_OUT), W.shape, dlogits),
           workspace.buffer(("grad", B_OUT), params[B_OUT].shape, dlogits))
    d_top, dW, db = affine_backward(dlogits, fw.top, W, out=out)
    return HeadGrads(loss, dW, db, d_top)


def loss_and_grads(params: dict, xs, labels, arch: Architecture, cut=(), input_grads=False,
                   workspace=NO_WORKSPACE, check: bool = True):
    """The discriminative variant end to end: forward, cross-entropy, backward. Returns (E, Backward).

    xs: list of M arrays (N, n^m_1); labels: (N,) integers in [0, n_classes). ``check=False`` skips
    validating the inputs, labels and parameters (for a training loop that validated them once).
    ``workspace``: a :class:`dmf_np.layers.Workspace` reused from call to call (the training loop's):
    activations, errors and gradients are then written into its buffers instead of fresh arrays, and
    the returned arrays are overwritten by the next call with it.
    """
    if check:
        check_modalities(xs, arch)
        check_params(params, arch)
        check_labels(labels, xs[0].shape[0], arch.n_classes)
    fw = forward(params, xs, arch, check=False, workspace=workspace)
    head = classifier_loss(params, fw, labels, workspace=workspace)
    bw = backward(params, fw, head.d_top, cut=cut, input_grads=input_grads, workspace=workspace)
    bw.grads[W_OUT], bw.grads[B_OUT] = head.dW_out, head.db_out
    bw.grads = {k: bw.grads[k] for k in params}  # parameter order
    return head.loss, bw
