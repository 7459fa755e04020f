"""The generative variant (Fig. 3, right): the fusion network as encoder, its mirror as decoder.

This module is the model: the decoder's parameters and equations, the reconstruction losses and
the backward pass. Its training loop (reconstruction with missing modalities) is
:mod:`dmf_np.generative_train`; its gradient check is :func:`dmf_np.gradcheck.gradcheck_generative`.

Section 3.2 turns DMF into an "encoder-decoder": the encoder is the fusion network of
:mod:`dmf_np.fusion` without a classifier (its top s_L is the joint representation), and the decoder
is "the reversed one", which reconstructs every modality from s_L. Fed one modality with the other
zeroed, the network encodes a joint representation from it and decodes the missing modality.

The mirror. The decoder is the encoder's graph with every edge reversed. Decoder nodes carry hats:
hhat^m_l mirrors h^m_l and shat_l mirrors s_l, with shat_L = s_L (the code itself). Reversing

* the modality chain  h^m_l -> h^m_{l+1}  gives  hhat^m_{l+1} -> hhat^m_l   weight W'^m_l      (n_l, n_{l+1})
* a fusion edge       h^m_l -> s_l        gives  shat_l -> hhat^m_l         weight W'^{s->m}_l (n_l, |s_l|)
* the shared chain    s_l -> s_{l+1}      gives  shat_{l+1} -> shat_l       weight W'^s_l      (|s_l|, |s_{l+1}|)

so the decoder's equations are the encoder's Eqs. 3-4 read backwards:

    shat_l    = f(W'^s_l shat_{l+1} + b'^s_l)                                          (mirror of Eq. 4)
    hhat^m_l  = f(W'^m_l hhat^m_{l+1} + W'^{s->m}_l shat_l + b'^m_l)                    (mirror of Eq. 3)

with whichever terms exist in the scheme. For DMF the decoder's shared layer feeds the decoder's
modality layer at every level, exactly as the paper's mirrored DMF of Fig. 3 (right) draws it; for
IMF it is the familiar "one shared layer, then modality stacks" decoder of the multimodal
autoencoder; for EMF a shared stack whose bottom layer splits into the modalities. Building the
decoder by reversing edges, rather than by hand for each scheme, keeps the three variants exactly as
comparable as their encoders. The bottom nodes hhat^m_1 are the reconstructions; their output
function depends on the data (``outputs``): 'bernoulli' (sigmoid, cross-entropy) for inputs in
[0, 1], 'gaussian' (identity, squared error) for real-valued, standardised inputs. Both pairs are
canonical, so the error at the output pre-activation is (hhat - x) / N for both.

Parameters: one dict holding the encoder's keys (``arch.param_shapes()``) and the decoder's primed
keys (``decoder_param_shapes``); weights start with 'W' so the optimizer's weight decay covers both.
Tied initialisation (:func:`init_decoder` with the encoder's weights) sets every decoder weight to
the transpose of the encoder weight it mirrors; they are trained untied afterwards.

Backward. The decoder's error flows upwards, mirroring Eqs. 5-6: a decoder shared node collects
error from several children (the decoder's modality layer of its level and the shared layer below),
the mirror of Eq. 5; a decoder modality node gets error from the one below, the mirror of Eq. 6.
dE/ds_L from the decoder then enters the encoder's own backward pass (:func:`dmf_np.backprop.backward`,
Eqs. 5-8) unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from . import backend
from .backprop import Backward
from .backprop import backward as encoder_backward
from .checks import check_modalities
from .fusion import Architecture, forward, init_params, uniform_init
from .layers import affine_backward, affine_forward, sigmoid, sigmoid_backward

OUTPUTS = ("bernoulli", "gaussian")


def check_outputs(outputs, arch: Architecture) -> tuple:
    """One output kind per modality, 'bernoulli' or 'gaussian'; a clear error otherwise."""
    if isinstance(outputs, str):
        outputs = (outputs,) * arch.M
    outputs = tuple(str(o).lower() for o in outputs)
    if len(outputs) != arch.M or any(o not in OUTPUTS for o in outputs):
        raise ValueError(f"outputs must name one of {OUTPUTS} for each of the {arch.M} modalities "
                         f"({', '.join(arch.names)}), got {outputs}")
    return outputs


# --- the decoder's edge set ------------------------------------------------------------------

def decoder_param_shapes(arch: Architecture) -> dict:
    """Every decoder parameter's key and shape, in decoding order (top level first).

    W'^s_l: shat_{l+1} -> shat_l; W'^{s->m}_l: shat_l -> hhat^m_l; W'^m_l: hhat^m_{l+1} -> hhat^m_l;
    b'^s_l for l < L, b'^m_l for every decoder modality layer (l = 1 is the reconstruction).
    """
    shapes = {}
    mod_levels = set(arch.modality_levels())
    for l in range(arch.L, 0, -1):
        if l < arch.L and l in arch.shared_levels():
            shapes[arch.W_sh(l, decoder=True)] = (arch.shared_sizes[l - 1], arch.shared_sizes[l])
            shapes[arch.b_sh(l, decoder=True)] = (arch.shared_sizes[l - 1],)
        if l not in mod_levels:
            continue
        for m in range(arch.M):
            n_l = arch.modality_sizes[m][l - 1]
            if l in arch.fusion_levels():
                shapes[arch.W_fuse(m, l, decoder=True)] = (n_l, arch.shared_sizes[l - 1])
            if l + 1 in mod_levels:
                shapes[arch.W_mod(m, l, decoder=True)] = (n_l, arch.modality_sizes[m][l])
            shapes[arch.b_mod(m, l, decoder=True)] = (n_l,)
    return shapes


def generative_param_shapes(arch: Architecture) -> dict:
    """Encoder (without classifier) and decoder parameter shapes together."""
    if arch.n_classes is not None:
        raise ValueError("the generative variant has no classifier: build its Architecture with n_classes=None")
    return {**arch.param_shapes(), **decoder_param_shapes(arch)}


def mirrored_key(arch: Architecture, dec_key: str) -> str:
    """The encoder weight a decoder weight mirrors: W'^x_1 -> W^x_1, W'^{s->x}_2 -> W^{x->s}_2, W'^s_1 -> W^s_1."""
    return arch.key(replace(arch.parse_key(dec_key), decoder=False))


def init_decoder(arch: Architecture, rng, xp=None, dtype=None, encoder_params: dict | None = None) -> dict:
    """Decoder parameters: zero biases; weights tied to the encoder's transposes when it is given.

    With ``encoder_params`` (e.g. after RBM pretraining) W'^. = (W^.)^T, the autoencoder that the
    pretrained stack of RBMs defines (Hinton & Salakhutdinov 2006); training unties them. Without it,
    the same uniform range as :func:`dmf_np.fusion.init_params`, with fan-in summed per decoder node.
    """
    xp = backend.get_xp() if xp is None else xp
    dtype = backend.DEFAULT_DTYPE if dtype is None else dtype
    shapes = decoder_param_shapes(arch)
    if encoder_params is None:
        return uniform_init(shapes, arch.destination, rng, xp, dtype)
    return {key: xp.zeros(shape, dtype=dtype) if key.startswith("b")
            else backend.to_device(encoder_params[mirrored_key(arch, key)].T, xp, dtype).copy()
            for key, shape in shapes.items()}


def init_generative(arch: Architecture, rng, xp=None, dtype=None, tied: bool = True) -> dict:
    """Random encoder (:func:`dmf_np.fusion.init_params`) plus a decoder, tied to it or drawn afresh."""
    generative_param_shapes(arch)  # validates n_classes=None
    enc = init_params(arch, rng, xp=xp, dtype=dtype)
    return {**enc, **init_decoder(arch, rng, xp, dtype, encoder_params=enc if tied else None)}


# --- forward: decoding ------------------------------------------------------------------------

def decoder_shared_layer_forward(shat_next, W, b):
    """Mirror of Eq. 4 on the shared chain: shat_l = f(W'^s_l shat_{l+1} + b'^s_l).

    shat_next: (N, |s_{l+1}|); W: (|s_l|, |s_{l+1}|); b: (|s_l|,) -> (N, |s_l|).
    """
    return sigmoid(affine_forward(shat_next, W, b))


def decoder_modality_layer_forward(terms, b, output: str | None = None):
    """Mirror of Eq. 3: hhat^m_l = f(W'^m_l hhat^m_{l+1} + W'^{s->m}_l shat_l + b'^m_l).

    terms: list of (activation, weight) pairs, the ones that exist at this level: (hhat^m_{l+1},
    W'^m_l) and/or (shat_l, W'^{s->m}_l), activations (N, n_in), weights (n_l, n_in); b: (n_l,).
    ``output`` is None for a hidden layer (sigmoid), else the reconstruction's output kind:
    'bernoulli' -> sigmoid, 'gaussian' -> identity. Returns (N, n_l).
    """
    (x0, W0), rest = terms[0], terms[1:]
    a = affine_forward(x0, W0, b)
    for x, W in rest:
        a += x @ W.T
    return a if output == "gaussian" else sigmoid(a, out=a)


@dataclass
class Decode:
    """The decoder's activations: hhat[(m, l)] (hhat[(m, 1)] is the reconstruction of modality m),
    shat[l] (shat[L] is the code s_L). outputs: the reconstruction kind per modality."""

    arch: Architecture
    outputs: tuple
    hhat: dict = field(default_factory=dict)
    shat: dict = field(default_factory=dict)

    @property
    def reconstructions(self) -> list:
        return [self.hhat[(m, 1)] for m in range(self.arch.M)]


def decode(params: dict, top, arch: Architecture, outputs) -> Decode:
    """Run the decoder from the joint representation ``top`` = s_L, shape (N, |s_L|), down to the inputs."""
    outputs = check_outputs(outputs, arch)
    dec = Decode(arch, outputs)
    dec.shat[arch.L] = top
    mod_levels = set(arch.modality_levels())
    for l in range(arch.L, 0, -1):
        if l < arch.L and l in arch.shared_levels():
            dec.shat[l] = decoder_shared_layer_forward(dec.shat[l + 1], params[f"W'^s_{l}"], params[f"b'^s_{l}"])
        if l not in mod_levels:
            continue
        for m, name in enumerate(arch.names):
            terms = []
            if l + 1 in mod_levels:
                terms.append((dec.hhat[(m, l + 1)], params[f"W'^{name}_{l}"]))
            if l in arch.fusion_levels():
                terms.append((dec.shat[l], params[f"W'^{{s->{name}}}_{l}"]))
            dec.hhat[(m, l)] = decoder_modality_layer_forward(terms, params[f"b'^{name}_{l}"],
                                                              outputs[m] if l == 1 else None)
    return dec


def mask_modalities(xs, present):
    """Inputs with absent modalities zeroed: present is a list of M booleans, or of (N,) 0/1 arrays
    (per example). Zero is 'missing': for standardised features it is the mean, for [0, 1] 'off'."""
    xp = backend.array_module(xs[0])
    out = []
    for x, p in zip(xs, present):
        if isinstance(p, bool):
            out.append(x if p else xp.zeros_like(x))
        else:
            out.append(x * xp.asarray(p, dtype=x.dtype)[:, None])
    return out


def encode(params: dict, xs, arch: Architecture, present=None, batch_size: int = 2000):
    """The joint representation s_L (N, |s_L|) of ``xs``, with modalities not ``present`` zeroed."""
    check_modalities(xs, arch)
    xp = backend.array_module(xs[0])
    if present is not None:
        xs = mask_modalities(xs, present)
    n = xs[0].shape[0]
    tops = [forward(params, [x[i:i + batch_size] for x in xs], arch, check=False).top
            for i in range(0, n, batch_size)]
    return xp.concatenate(tops) if tops else xp.zeros((0, arch.shared_sizes[-1]), dtype=xs[0].dtype)


def reconstruct(params: dict, xs, arch: Architecture, outputs, present=None) -> list:
    """Every modality reconstructed from the joint representation of the ``present`` ones."""
    return decode(params, encode(params, xs, arch, present), arch, outputs).reconstructions


# --- the reconstruction losses ----------------------------------------------------------------

def cross_entropy_loss(xhat, x) -> float:
    """E = -1/N sum_n sum_i [x log xhat + (1 - x) log(1 - xhat)], for x in [0, 1]. (N, n) -> scalar.

    Clipped away from 0 and 1 so a saturated output gives a large, finite loss.
    """
    xp = backend.array_module(xhat)
    eps = 1e-7 if xhat.dtype == xp.float32 else 1e-12
    p = xp.clip(xhat, eps, 1 - eps)
    return -float((x * xp.log(p) + (1 - x) * xp.log(1 - p)).sum()) / x.shape[0]


def squared_error_loss(xhat, x) -> float:
    """E = 1/(2N) sum_n ||xhat_n - x_n||^2, for real-valued x. (N, n) -> scalar."""
    d = xhat - x
    return 0.5 * float((d * d).sum()) / x.shape[0]


def reconstruction_loss(dec: Decode, targets, weights=None) -> float:
    """E = sum_m w_m E_m(hhat^m_1, x^m), E_m cross-entropy ('bernoulli') or squared error ('gaussian')."""
    weights = (1.0,) * dec.arch.M if weights is None else weights
    total = 0.0
    for m, (x, kind) in enumerate(zip(targets, dec.outputs)):
        fn = cross_entropy_loss if kind == "bernoulli" else squared_error_loss
        total += weights[m] * fn(dec.hhat[(m, 1)], x)
    return total


def reconstruction_delta(xhat, x, weight: float = 1.0):
    """dE/da at a reconstruction's pre-activation a: w (xhat - x) / N, for both losses.

    Sigmoid + cross-entropy and identity + squared error are canonical pairs: the derivative of the
    loss and of the output function cancel to the residual. xhat, x: (N, n) -> (N, n).
    """
    return (xhat - x) * (weight / x.shape[0])


# --- backward: the decoder's equations --------------------------------------------------------

def grad_decoder_modality_activation(delta_below, W):
    """Mirror of Eq. 6 for a decoder modality layer: dE/dhhat^m_{l+1} = (W'^m_l)^T delta^m_l.

    hhat^m_{l+1} feeds only hhat^m_l, so its error is one product. delta_below = dE/d(pre-activation
    of hhat^m_l): (N, n_l); W = W'^m_l: (n_l, n_{l+1}) -> (N, n_{l+1}).
    """
    return delta_below @ W


def grad_decoder_shared_activation(delta_shared_below, W_s, deltas_modality, Ws_sm):
    """Mirror of Eq. 5 for a decoder shared layer:

        dE/dshat_l = (W'^s_{l-1})^T delta^s_{l-1} + sum_m (W'^{s->m}_l)^T delta^m_l

    shat_l feeds the decoder's shared layer below it (shat_{l-1}) and, where fusion edges exist, the
    decoder's modality layers of its own level: the decoder's own dense supervision, the reverse of
    the encoder's Eq. 7 paths. delta_shared_below: (N, |s_{l-1}|) or None; W_s = W'^s_{l-1}:
    (|s_{l-1}|, |s_l|); deltas_modality: list of (N, n^m_l); Ws_sm: matching W'^{s->m}_l (n^m_l, |s_l|).
    Returns (N, |s_l|), or None when no error reaches shat_l.
    """
    total = None if delta_shared_below is None else delta_shared_below @ W_s
    for d, W in zip(deltas_modality, Ws_sm):
        total = d @ W if total is None else total + d @ W
    return total


def decoder_backward(params: dict, dec: Decode, targets, weights=None):
    """Back-propagate the reconstruction loss through the decoder, bottom (l = 1) to top.

    Returns (grads of the decoder parameters, dE/ds_L of shape (N, |s_L|)). At level l the decoder
    modality layers are finished first (their error came from level l - 1), then shat_l, which
    collects error from them and from shat_{l-1}.
    """
    arch = dec.arch
    weights = (1.0,) * arch.M if weights is None else weights
    mod_levels = set(arch.modality_levels())
    grads, dhhat, delta_shat_below = {}, {}, None
    ds_top = None
    for l in range(1, arch.L + 1):
        deltas_m, Ws_sm = [], []
        if l in mod_levels:
            for m, name in enumerate(arch.names):
                if l == 1:  # the reconstruction: loss and output function together
                    delta = reconstruction_delta(dec.hhat[(m, 1)], targets[m], weights[m])
                else:
                    delta = sigmoid_backward(dhhat[(m, l)], dec.hhat[(m, l)])
                grads[f"b'^{name}_{l}"] = delta.sum(axis=0)
                if l + 1 in mod_levels:
                    W = params[f"W'^{name}_{l}"]
                    _, grads[f"W'^{name}_{l}"], _ = affine_backward(delta, dec.hhat[(m, l + 1)], W, need_dx=False)
                    dhhat[(m, l + 1)] = grad_decoder_modality_activation(delta, W)
                if l in arch.fusion_levels():
                    W = params[f"W'^{{s->{name}}}_{l}"]
                    grads[f"W'^{{s->{name}}}_{l}"] = delta.T @ dec.shat[l]
                    deltas_m.append(delta)
                    Ws_sm.append(W)
        if l in arch.shared_levels():
            chain_below = delta_shat_below is not None
            ds = grad_decoder_shared_activation(delta_shat_below, params[f"W'^s_{l - 1}"] if chain_below else None,
                                                deltas_m, Ws_sm)
            if l == arch.L:
                ds_top = ds
                break
            delta_s = sigmoid_backward(ds, dec.shat[l])
            grads[f"b'^s_{l}"] = delta_s.sum(axis=0)
            grads[f"W'^s_{l}"] = delta_s.T @ dec.shat[l + 1]
            delta_shat_below = delta_s
    return grads, ds_top


@dataclass
class GenerativeBackward(Backward):
    """What :func:`loss_and_grads` found: the encoder's :class:`dmf_np.backprop.Backward` (grads now
    covering encoder AND decoder parameters; dh, ds the encoder's errors, ds[L] the error the decoder
    sent into the code s_L) plus ``decoded``, the decoder's activations (:class:`Decode`)."""

    decoded: Decode | None = None


def loss_and_grads(params: dict, xs_in, targets, arch: Architecture, outputs, weights=None):
    """The generative variant end to end: encode ``xs_in`` (some modalities may be zeroed), decode,
    compare with the complete ``targets``, back-propagate through decoder and encoder.

    Returns (E, :class:`GenerativeBackward`), its grads keyed like ``params`` (encoder and decoder),
    the same shape of answer as :func:`dmf_np.backprop.loss_and_grads`.
    """
    outputs = check_outputs(outputs, arch)
    fw = forward(params, xs_in, arch)
    dec = decode(params, fw.top, arch, outputs)
    loss = reconstruction_loss(dec, targets, weights)
    dec_grads, ds_top = decoder_backward(params, dec, targets, weights)
    enc_params = {k: params[k] for k in arch.param_shapes()}
    enc = encoder_backward(enc_params, fw, ds_top)
    grads = {**enc.grads, **dec_grads}
    return loss, GenerativeBackward({k: grads[k] for k in params}, enc.dh, enc.ds, dec)
