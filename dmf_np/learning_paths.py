"""Learning paths (Fig. 2): every gradient split by the path its error took.

Eq. 5 says that the error reaching a modality layer h^m_l has two terms:

* the *modality* path: through the modality layer above, h^m_{l+1} (Eq. 2);
* the *shared* path: through the shared layer beside it, s_l (Eq. 7). Because M_l also sums the
  other modalities' layers, this error carries supervision from them: the cross-modal path.

:func:`learning_paths` runs the ordinary backward pass (:func:`dmf_np.backprop.backward`) and then
forms the two terms again, for every modality layer, with the same Eq. 2 and Eq. 7 functions. A
parameter of a modality layer is then split by the term that carried the error into the layer it
feeds; that split is exact, because the layer's weight gradient is linear in its error. Shared
layers and the classifier receive error along one path only; all of it is counted as "shared".

This is analysis, for teaching and for the study of training dynamics: it allocates freely and is
not what the training loop runs.
"""
from __future__ import annotations

from dataclasses import dataclass

from .backend import array_module
from .backprop import (PATHS, Backward, backward, classifier_loss, grad_fan_in_sum, grad_via_modality_path,
                       grad_via_shared_path, normalize_cuts)
from .checks import check_labels, check_modalities, check_params
from .fusion import B_OUT, W_OUT, Architecture, Forward, forward
from .layers import affine_backward, sigmoid_backward


@dataclass
class LearningPaths:
    """The gradients of one backward pass, split by learning path.

    total: the :class:`dmf_np.backprop.Backward` of the same pass (the sums).
    dh[(m, l)]: {"modality": Eq. 5's first term, "shared": its second (Eq. 7)}, each an (N, n_l)
        array (zeros where the path does not exist or is cut), for every modality layer in
        ``total.dh``; dh[(m, l)]["modality"] + dh[(m, l)]["shared"] == total.dh[(m, l)].
    grads: {"modality": {key: ...}, "shared": {key: ...}}: each parameter's gradient split the
        same way; grads["modality"][k] + grads["shared"][k] == total.grads[k].
    """

    total: Backward
    dh: dict
    grads: dict

    def share(self, key: str, path: str = "shared") -> float:
        """||part|| / ||total|| of parameter ``key``'s gradient along ``path`` (0 for a zero gradient).

        The two parts need not be orthogonal, so the two shares need not add up to 1.
        """
        xp = array_module(self.total.grads[key])
        total = float(xp.linalg.norm(self.total.grads[key]))
        return float(xp.linalg.norm(self.grads[path][key])) / total if total > 0 else 0.0


def learning_paths(params: dict, fw: Forward, dE_dtop, cut=(), input_grads=False) -> LearningPaths:
    """Back-propagate dE/ds_L and split every modality error and gradient by path (Eqs. 2, 5, 7).

    Arguments as for :func:`dmf_np.backprop.backward` (no workspace: the parts are fresh arrays).
    A cut path contributes zero to its part, and to everything below it.
    """
    arch, cuts = fw.arch, normalize_cuts(cut, fw.arch)
    total = backward(params, fw, dE_dtop, cut=cut, input_grads=input_grads)
    xp = array_module(dE_dtop)
    dh, grads = {}, {p: {} for p in PATHS}
    for (m, l), dh_total in total.dh.items():
        part = {p: xp.zeros_like(dh_total) for p in PATHS}
        if (m, l + 1) in total.dh and ("modality", m, l) not in cuts:  # Eq. 2: through h^m_{l+1}
            delta_next = sigmoid_backward(total.dh[(m, l + 1)], fw.h[(m, l + 1)])
            part["modality"] = grad_via_modality_path(delta_next, params[arch.W_mod(m, l)])
        if l in total.ds and l in arch.fusion_levels() and ("shared", m, l) not in cuts:  # Eq. 7: through s_l
            delta_s = grad_fan_in_sum(sigmoid_backward(total.ds[l], fw.s[l]), arch.shared_divisor(l))
            part["shared"] = grad_via_shared_path(delta_s, params[arch.W_fuse(m, l)])
        dh[(m, l)] = part
        if l == 1:
            continue  # an input: no weights below it
        for p in PATHS:  # the layer's weight gradient is linear in its error: split it the same way
            delta = sigmoid_backward(part[p], fw.h[(m, l)])
            _, grads[p][arch.W_mod(m, l - 1)], grads[p][arch.b_mod(m, l)] = affine_backward(
                delta, fw.h[(m, l - 1)], None, need_dx=False)
    for key, g in total.grads.items():  # shared layers (and a classifier): one path in
        if key not in grads["shared"]:
            grads["shared"][key], grads["modality"][key] = g, xp.zeros_like(g)
    return LearningPaths(total, dh, grads)


def loss_and_learning_paths(params: dict, xs, labels, arch: Architecture, cut=(), input_grads=False):
    """The discriminative variant end to end, split by path: (E, :class:`LearningPaths`).

    Like :func:`dmf_np.backprop.loss_and_grads`, with the classifier's gradients in ``total.grads``
    and counted as "shared".
    """
    check_modalities(xs, arch)
    check_params(params, arch)
    check_labels(labels, xs[0].shape[0], arch.n_classes)
    fw = forward(params, xs, arch, check=False)
    head = classifier_loss(params, fw, labels)
    paths = learning_paths(params, fw, head.d_top, cut=cut, input_grads=input_grads)
    for key, g in ((W_OUT, head.dW_out), (B_OUT, head.db_out)):
        paths.total.grads[key] = paths.grads["shared"][key] = g
        paths.grads["modality"][key] = array_module(g).zeros_like(g)
    paths.total.grads = {k: paths.total.grads[k] for k in params}
    return head.loss, paths
