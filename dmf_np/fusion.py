"""The fusion graph (Fig. 1) and the forward pass (Eqs. 1, 3, 4).

One engine serves the three schemes; they differ only in which edges exist. With L multimodal units,
unit l holds one layer per modality, h^m_l, and one shared layer s_l (the paper's footnote 1);
h^m_1 is modality m's input. The edges are of three kinds:

* modality chain  h^m_{l-1} -> h^m_l   weight W^m_{l-1}    (Eq. 4)
* fusion          h^m_l     -> s_l     weight W^{m->s}_l   (Eqs. 1, 3)
* shared chain    s_{l-1}   -> s_l     weight W^s_{l-1}    (Eq. 3)

and the schemes keep these of them:

====  ========================  ================  ============================
      modality chain            fusion into s_l   shared chain
====  ========================  ================  ============================
EMF   none (inputs only)        l = 1             l = 2..L  (concatenated inputs, one stack)
IMF   l = 2..L                  l = L             none      (Eq. 1: one shared layer on top)
DMF   l = 2..L                  l = 1..L          l = 2..L  (Eqs. 3, 4)
====  ========================  ================  ============================

so EMF is the bottom multimodal unit plus a shared stack, IMF the top unit on modality stacks, and
DMF every unit at once. A softmax classifier on s_L makes the discriminative variant (Fig. 3, left).

Parameters live in a plain dict keyed by the paper's names, e.g. ``W^x_1``, ``W^{x->s}_2``, ``W^s_1``,
``b^s_2``, ``W^out``; gradients come back keyed the same way. Weights have the paper's orientation
(n_out, n_in): see :mod:`dmf_np.layers`.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field

import numpy  # dtype logic only: CuPy arrays carry NumPy dtypes

from . import backend
from .checks import check_modalities, check_params
from .layers import NO_WORKSPACE, affine_forward, sigmoid

SCHEMES = ("emf", "imf", "dmf")
_DEFAULT_NAMES = ("x", "y", "z")
W_OUT, B_OUT = "W^out", "b^out"  # the classifier on s_L
# W or b, an optional prime (decoder), then {m->s} / {s->m} / m / s / out, then _l
_NAME = r"[A-Za-z][A-Za-z0-9]*"
_KEY_RE = re.compile(rf"([Wb])(')?\^(?:\{{({_NAME})->s\}}|\{{s->({_NAME})\}}|({_NAME}))(?:_(\d+))?")


@dataclass(frozen=True)
class ParamKey:
    """A parameter key, parsed (:meth:`Architecture.parse_key`; :meth:`Architecture.key` builds it back).

    weight: W (True) or b (False). edge: 'modality' (W^m_l: h^m_l -> h^m_{l+1}; b^m_l), 'fusion'
    (W^{m->s}_l: h^m_l -> s_l), 'shared' (W^s_l: s_l -> s_{l+1}; b^s_l) or 'out' (the classifier).
    m: modality index (None for shared and out); l: the level in the key (None for out);
    decoder: a primed parameter of the generative variant's decoder.
    """

    weight: bool
    edge: str
    m: int | None
    l: int | None
    decoder: bool = False


def _is_sequence(x) -> bool:
    return hasattr(x, "__len__") and hasattr(x, "__iter__") and not isinstance(x, (str, bytes))


def _is_int(n) -> bool:
    return isinstance(n, numbers.Integral) and not isinstance(n, bool)


def _layer_sizes(sizes, what: str) -> tuple:
    """``sizes`` as a tuple of positive ints, or a ValueError/TypeError naming ``what``."""
    if not _is_sequence(sizes):
        raise TypeError(f"{what} must be a tuple of layer sizes, got {sizes!r}")
    if not all(_is_int(n) and n > 0 for n in sizes):
        raise ValueError(f"{what} must be positive integers, got {tuple(sizes)!r}")
    return tuple(int(n) for n in sizes)


@dataclass(frozen=True)
class Architecture:
    """Sizes and edge set of a fusion network.

    scheme: 'emf', 'imf' or 'dmf'.
    modality_sizes: one tuple per modality, (n_1, ..., n_L): n_1 is the input size, n_l the size of
        h^m_l. EMF reads only n_1 (it has no modality layers); all modalities need the same L.
    shared_sizes: (|s_1|, ..., |s_L|). IMF reads only |s_L| (its one shared layer).
    n_classes: size of the softmax output on s_L, or None for a network without a classifier.
    names: one short name per modality, used in parameter keys (default x, y, z, then m4, m5...).
    fan_in_norm: fan-in-normalised shared layers (not in the paper; docs/protocol_round2.md, E5):
        M_l = (1/k_l)(sum_m W^{m->s}_l h^m_l + W^s_{l-1} s_{l-1}) + b^s_l, with k_l the number of
        weight blocks feeding s_l (:meth:`fan_in_blocks`), so that a layer fed by k_l blocks gets
        pre-activations on the scale of one fed by a single block. k_l is a constant of the
        graph, not a parameter: the parameters (keys, shapes) are the plain network's. It acts on
        the encoder's shared layers only; layer-wise pretraining (:mod:`dmf_np.pretrain`) ignores
        it, so its RBMs are the plain network's and their weights are copied in unchanged.
        False (the default) is the paper's Eq. 3.
    """

    scheme: str
    modality_sizes: tuple
    shared_sizes: tuple
    n_classes: int | None = 10
    names: tuple | None = None
    fan_in_norm: bool = False

    def __post_init__(self):
        scheme = str(self.scheme).lower()
        if scheme not in SCHEMES:
            raise ValueError(f"unknown fusion scheme {self.scheme!r}; choose one of {SCHEMES}")
        object.__setattr__(self, "scheme", scheme)
        if not _is_sequence(self.modality_sizes) or not all(_is_sequence(s) for s in self.modality_sizes):
            raise TypeError(f"modality_sizes must hold one tuple of layer sizes per modality, e.g. "
                            f"((392, 512), (392, 512)), got {self.modality_sizes!r}")
        msizes = tuple(_layer_sizes(sizes, f"modality #{m}'s sizes") for m, sizes in enumerate(self.modality_sizes))
        ssizes = _layer_sizes(self.shared_sizes, "shared_sizes")
        if len(msizes) < 2:
            raise ValueError(f"multimodal fusion needs at least 2 modalities, got {len(msizes)}")
        if len(ssizes) < 1:
            raise ValueError("shared_sizes must name at least one shared layer")
        for m, sizes in enumerate(msizes):
            if len(sizes) != len(ssizes):
                raise ValueError(f"modality {m} has {len(sizes)} layers but there are {len(ssizes)} "
                                 f"shared layers; each multimodal unit needs one of each")
        if self.n_classes is not None and (not _is_int(self.n_classes) or int(self.n_classes) < 2):
            raise ValueError(f"n_classes must be an integer >= 2 or None, got {self.n_classes!r}")
        names = self.names
        if names is None:
            names = _DEFAULT_NAMES if len(msizes) <= 3 else tuple(f"m{i + 1}" for i in range(len(msizes)))
            names = tuple(names[: len(msizes)])
        if not _is_sequence(names):
            raise TypeError(f"names must be a tuple of {len(msizes)} modality names, e.g. ('x', 'y'), got {names!r}")
        names = tuple(str(n) for n in names)
        if (len(names) != len(msizes) or len(set(names)) != len(names) or "s" in names
                or not all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", n) for n in names)):
            raise ValueError(f"names must be {len(msizes)} distinct alphanumeric strings other than "
                             f"'s', got {names}")
        if not isinstance(self.fan_in_norm, (bool, numpy.bool_)):
            raise TypeError(f"fan_in_norm must be True or False, got {self.fan_in_norm!r}")
        object.__setattr__(self, "modality_sizes", msizes)
        object.__setattr__(self, "shared_sizes", ssizes)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "fan_in_norm", bool(self.fan_in_norm))

    def __repr__(self):
        # the plain network's repr is the one it always had; the option shows only where it is on
        fn = ", fan_in_norm=True" if self.fan_in_norm else ""
        return (f"Architecture(scheme={self.scheme!r}, modality_sizes={self.modality_sizes!r}, "
                f"shared_sizes={self.shared_sizes!r}, n_classes={self.n_classes!r}, names={self.names!r}{fn})")

    # --- the edge set -----------------------------------------------------------------------
    @property
    def L(self) -> int:
        """Number of multimodal units (depth)."""
        return len(self.shared_sizes)

    @property
    def M(self) -> int:
        """Number of modalities."""
        return len(self.modality_sizes)

    @property
    def input_sizes(self) -> tuple:
        return tuple(sizes[0] for sizes in self.modality_sizes)

    def modality_levels(self) -> range:
        """Levels l at which h^m_l exists (1 is the input)."""
        return range(1, 2) if self.scheme == "emf" else range(1, self.L + 1)

    def fusion_levels(self) -> tuple:
        """Levels l with fusion edges h^m_l -> s_l."""
        return {"emf": (1,), "imf": (self.L,), "dmf": tuple(range(1, self.L + 1))}[self.scheme]

    def shared_levels(self) -> tuple:
        """Levels l at which a shared layer s_l exists."""
        return (self.L,) if self.scheme == "imf" else tuple(range(1, self.L + 1))

    def has_shared_chain(self, l: int) -> bool:
        """Whether the edge s_{l-1} -> s_l exists (weight W^s_{l-1})."""
        return self.scheme != "imf" and 2 <= l <= self.L

    def fan_in_blocks(self, l: int) -> int:
        """k_l: the number of weight blocks feeding s_l, one per fusion edge and one for the shared chain.

        DMF: k_1 = M, k_l = M + 1 for l >= 2; IMF: k_L = M; EMF: k_1 = M, k_l = 1 for l >= 2. A
        property of the graph, whether or not ``fan_in_norm`` is on.
        """
        if l not in self.shared_levels():
            raise ValueError(f"{self.scheme.upper()} has no shared layer s_{l}; its shared levels are "
                             f"{self.shared_levels()}")
        return (self.M if l in self.fusion_levels() else 0) + int(self.has_shared_chain(l))

    def shared_divisor(self, l: int) -> int:
        """What s_l's weighted inputs are divided by: k_l with ``fan_in_norm``, else 1 (Eq. 3 as printed)."""
        return self.fan_in_blocks(l) if self.fan_in_norm else 1

    # --- parameter keys: built and parsed here, and nowhere else ----------------------------
    def key(self, pk: "ParamKey") -> str:
        """The dict key of a parameter, in the paper's notation (the inverse of :meth:`parse_key`).

        ``W^x_1`` (h^x_1 -> h^x_2), ``b^x_2``, ``W^{x->s}_2`` (h^x_2 -> s_2), ``W^s_1`` (s_1 -> s_2),
        ``b^s_2``, ``W^out``, ``b^out``; decoder parameters are primed: ``W'^x_1``, ``W'^{s->x}_2``,
        ``W'^s_1``, ``b'^x_1``, ``b'^s_1`` (see :mod:`dmf_np.generative`).
        """
        letter = ("W" if pk.weight else "b") + ("'" if pk.decoder else "")
        if pk.edge == "out":
            return f"{letter}^out"
        if pk.edge == "shared":
            return f"{letter}^s_{pk.l}"
        name = self.names[pk.m]
        if pk.edge == "fusion":
            return f"{letter}^{{s->{name}}}_{pk.l}" if pk.decoder else f"{letter}^{{{name}->s}}_{pk.l}"
        return f"{letter}^{name}_{pk.l}"

    def parse_key(self, key: str) -> "ParamKey":
        """What a parameter key names: ``'W^{y->s}_2'`` -> ParamKey(weight=True, edge='fusion', m=1, l=2)."""
        match = _KEY_RE.fullmatch(key)
        if match is None:
            raise ValueError(f"{key!r} is not a parameter key "
                             f"(e.g. 'W^x_1', 'W^{{x->s}}_2', 'W^s_1', 'b^s_2', 'W^out')")
        letter, prime, to_s, from_s, plain, level = match.groups()
        weight, decoder = letter == "W", prime == "'"
        if plain == "out" and level is None:
            return ParamKey(weight, "out", None, None, decoder)
        if level is None:
            raise ValueError(f"{key!r} has no level: parameter keys end in _<l>")
        l, name = int(level), to_s or from_s or plain
        if name == "s":
            return ParamKey(weight, "shared", None, l, decoder)
        if name not in self.names:
            raise ValueError(f"{key!r} names modality {name!r}; this network's modalities are {self.names}")
        edge = "fusion" if (to_s or from_s) else "modality"
        if (edge == "fusion" and not weight) or (from_s and not decoder) or (to_s and decoder):
            raise ValueError(f"{key!r} is not a parameter key of this network")
        return ParamKey(weight, edge, self.names.index(name), l, decoder)

    def W_mod(self, m: int, l: int, decoder: bool = False) -> str:
        """Key of W^m_l, the weight h^m_l -> h^m_{l+1} (Eq. 4); decoder: W'^m_l, hhat^m_{l+1} -> hhat^m_l."""
        return self.key(ParamKey(True, "modality", m, l, decoder))

    def b_mod(self, m: int, l: int, decoder: bool = False) -> str:
        """Key of b^m_l, the bias of h^m_l (decoder: b'^m_l, of hhat^m_l)."""
        return self.key(ParamKey(False, "modality", m, l, decoder))

    def W_fuse(self, m: int, l: int, decoder: bool = False) -> str:
        """Key of W^{m->s}_l, the fusion weight h^m_l -> s_l (Eqs. 1, 3); decoder: W'^{s->m}_l."""
        return self.key(ParamKey(True, "fusion", m, l, decoder))

    def W_sh(self, l: int, decoder: bool = False) -> str:
        """Key of W^s_l, the shared-chain weight s_l -> s_{l+1} (Eq. 3); decoder: W'^s_l."""
        return self.key(ParamKey(True, "shared", None, l, decoder))

    def b_sh(self, l: int, decoder: bool = False) -> str:
        """Key of b^s_l, the bias of s_l (decoder: b'^s_l, of shat_l)."""
        return self.key(ParamKey(False, "shared", None, l, decoder))

    def destination(self, key: str) -> str:
        """The layer a weight feeds: 'W^x_1' -> 'h^x_2', 'W^{x->s}_2' -> 's_2', 'W^s_1' -> 's_2',
        'W^out' -> 'out'; decoder weights: 'W'^x_1' and 'W'^{s->x}_1' -> 'hhat^x_1', 'W'^s_1' -> 'shat_1'."""
        pk = self.parse_key(key)
        if pk.edge == "out":
            return "out"
        if pk.decoder:
            return f"shat_{pk.l}" if pk.edge == "shared" else f"hhat^{self.names[pk.m]}_{pk.l}"
        if pk.edge == "fusion":
            return f"s_{pk.l}"
        return f"s_{pk.l + 1}" if pk.edge == "shared" else f"h^{self.names[pk.m]}_{pk.l + 1}"

    # --- parameter shapes ----------------------------------------------------------------------
    def param_shapes(self) -> dict:
        """Every parameter's key and shape, in forward order."""
        shapes = {}
        for l in range(1, self.L + 1):
            if l >= 2 and l in self.modality_levels():
                for m in range(self.M):
                    n_prev, n = self.modality_sizes[m][l - 2], self.modality_sizes[m][l - 1]
                    shapes[self.W_mod(m, l - 1)] = (n, n_prev)
                    shapes[self.b_mod(m, l)] = (n,)
            if l in self.shared_levels():
                s = self.shared_sizes[l - 1]
                if l in self.fusion_levels():
                    for m in range(self.M):
                        shapes[self.W_fuse(m, l)] = (s, self.modality_sizes[m][l - 1])
                if self.has_shared_chain(l):
                    shapes[self.W_sh(l - 1)] = (s, self.shared_sizes[l - 2])
                shapes[self.b_sh(l)] = (s,)
        if self.n_classes is not None:
            shapes[W_OUT] = (self.n_classes, self.shared_sizes[-1])
            shapes[B_OUT] = (self.n_classes,)
        return shapes

    def n_params(self) -> int:
        return sum(math.prod(shape) for shape in self.param_shapes().values())

    def with_scheme(self, scheme: str) -> "Architecture":
        """The same sizes (and ``fan_in_norm``) under another fusion scheme (for side-by-side comparisons)."""
        return Architecture(scheme, self.modality_sizes, self.shared_sizes, self.n_classes, self.names,
                            self.fan_in_norm)


def paper_mnist_architecture(scheme: str = "dmf") -> Architecture:
    """The MNIST network of section 4.1: each half [392, 512, 128], shared [512, 256, 64], 10 classes."""
    return Architecture(scheme, ((392, 512, 128), (392, 512, 128)), (512, 256, 64), 10, ("x", "y"))


def init_params(arch: Architecture, rng, xp=None, dtype=None) -> dict:
    """Random initial parameters: zero biases, weights uniform in +-4 sqrt(6 / (fan_in + fan_out)).

    That is Glorot's range scaled by 4 for the sigmoid (Glorot & Bengio 2010; the softmax layer
    W^out gets the plain range, so that the initial loss is near log(n_classes)), with fan_in the
    *total* fan-in of the destination layer, so that a shared layer fed by several layers gets
    pre-activations of the same scale as a modality layer fed by one. ``rng`` is a NumPy
    Generator; the numbers are drawn on the host so the same seed gives the same network on every
    backend.
    """
    # the softmax layer is not a sigmoid: plain Glorot there
    return uniform_init(arch.param_shapes(), arch.destination, rng, xp, dtype,
                        gain=lambda key: 1.0 if key == W_OUT else 4.0)


def uniform_init(shapes: dict, destination, rng, xp=None, dtype=None, gain=lambda key: 4.0) -> dict:
    """Zero biases ('b...') and weights ('W...') uniform in +-gain sqrt(6 / (fan_in + fan_out)).

    fan_in is summed over every weight with the same ``destination(key)`` (the layer it feeds).
    Draws on the host from NumPy Generator ``rng``, weights in the order of ``shapes``.
    """
    xp = backend.get_xp() if xp is None else xp
    dtype = backend.DEFAULT_DTYPE if dtype is None else dtype
    fan_in = {}
    for key, shape in shapes.items():
        if key.startswith("W"):
            fan_in[destination(key)] = fan_in.get(destination(key), 0) + shape[1]
    params = {}
    for key, shape in shapes.items():
        if key.startswith("b"):
            params[key] = xp.zeros(shape, dtype=dtype)
        else:
            limit = gain(key) * math.sqrt(6.0 / (fan_in[destination(key)] + shape[0]))
            params[key] = backend.to_device(rng.uniform(-limit, limit, size=shape), xp, dtype)
    return params


@dataclass
class Forward:
    """What the forward pass computed, and what backward needs: every activation by name.

    h[(m, l)]: h^m_l, shape (N, n_l) (h[(m, 1)] is the input); s[l]: s_l, shape (N, |s_l|);
    logits: (N, n_classes) or None. pre: only when :func:`forward` was asked for them, the
    pre-activation M of every hidden layer by name ('h^x_2', 's_1', ...), the sum inside f.
    """

    arch: Architecture
    h: dict = field(default_factory=dict)
    s: dict = field(default_factory=dict)
    logits: object = None
    pre: dict | None = None

    @property
    def top(self):
        """The top joint representation s_L."""
        return self.s[self.arch.L]


def modality_pre_activation(h_prev, W, b, out=None):
    """Eq. 4's sum: M^m_l = W^m_{l-1} h^m_{l-1} + b^m_l, so that h^m_l = f(M^m_l).

    h_prev: (N, n_{l-1}); W: (n_l, n_{l-1}); b: (n_l,) -> (N, n_l). The paper omits biases.
    """
    return affine_forward(h_prev, W, b, out=out)


def modality_layer_forward(h_prev, W, b, out=None):
    """Eq. 4: h^m_l = f(W^m_{l-1} h^m_{l-1} + b^m_l).

    h_prev: (N, n_{l-1}); W: (n_l, n_{l-1}); b: (n_l,) -> (N, n_l). The paper omits biases.
    """
    return sigmoid(modality_pre_activation(h_prev, W, b, out=out), out=out)


def shared_pre_activation(hs, W_fusion, s_prev, W_s, b, out=None, scratch=None, k=1):
    """Eq. 3's sum: M_l = sum_m W^{m->s}_l h^m_l + W^s_{l-1} s_{l-1} + b^s_l, so that s_l = f(M_l).

    Fan-in normalisation (``k`` = k_l > 1, :attr:`Architecture.fan_in_norm`; not in the paper) is
    Eq. 3 with the weighted inputs averaged instead of summed:
    M_l = (1/k_l)(sum_m W^{m->s}_l h^m_l + W^s_{l-1} s_{l-1}) + b^s_l. It is applied here and only
    here, because this is the sum that grows with the number k_l of blocks feeding s_l; the bias
    stays outside, as it is one term however many blocks there are. k = 1 is the sum as printed,
    computed exactly as it always was.
    Arguments and shapes as :func:`shared_layer_forward`; returns M_l: (N, |s_l|), in ``out`` if given.
    """
    terms = list(zip(hs, W_fusion)) + ([(s_prev, W_s)] if s_prev is not None else [])
    if not terms:
        raise ValueError("a shared layer needs at least one input")
    x0, W0 = terms[0]
    a = affine_forward(x0, W0, b if k == 1 else None, out=out)
    xp = backend.array_module(a)
    for x, W in terms[1:]:
        a += xp.matmul(x, W.T, out=scratch)
    if k != 1:  # fan-in normalisation: the weighted inputs' mean, then the bias
        a /= k
        a += b
    return a


def shared_layer_forward(hs, W_fusion, s_prev, W_s, b, out=None, scratch=None, k=1):
    """Eq. 3: s_l = f(M_l), M_l = sum_m W^{m->s}_l h^m_l + W^s_{l-1} s_{l-1} + b^s_l.

    Without the shared-chain term (s_prev None) this is Eq. 1, the IMF unit, and EMF's bottom layer.
    hs: list of (N, n^m_l), one per modality fused at this level (may be empty);
    W_fusion: matching list of (|s_l|, n^m_l); s_prev: (N, |s_{l-1}|) or None; W_s: (|s_l|, |s_{l-1}|)
    or None; b: (|s_l|,). Returns s_l: (N, |s_l|). ``out``, ``scratch``: optional (N, |s_l|) buffers
    for the result and for each further term of the sum before it is added. ``k``: the divisor of
    the weighted inputs, k_l with fan-in normalisation (:func:`shared_pre_activation`), else 1.
    """
    a = shared_pre_activation(hs, W_fusion, s_prev, W_s, b, out=out, scratch=scratch, k=k)
    return sigmoid(a, out=a)


def forward(params: dict, xs, arch: Architecture, check: bool = True, workspace=NO_WORKSPACE,
            pre_activations: bool = False) -> Forward:
    """The forward pass of any scheme: Eqs. 4 and 3 level by level, then the classifier logits.

    xs: list of M arrays, xs[m] of shape (N, n^m_1). Returns a :class:`Forward`. ``check=False``
    skips input validation (for training loops that validated the whole data set once).
    ``workspace``: a :class:`dmf_np.layers.Workspace`; the activations are then written into its
    buffers (no allocation), valid until the next call with the same workspace.
    ``pre_activations``: also keep a copy of every hidden layer's M (Eqs. 3, 4's sums) in ``Forward.pre``,
    the very sums the activations are computed from. With ``arch.fan_in_norm`` each shared layer's
    weighted inputs are divided by k_l (:func:`shared_pre_activation`), and ``pre`` holds that M_l.
    """
    if check:
        # the encoder's keys only: a generative model's params carry its decoder too
        check_params({k: params[k] for k in arch.param_shapes() if k in params}
                     if isinstance(params, dict) else params, arch)
        check_modalities(xs, arch)
    fw = Forward(arch, h={(m, 1): x for m, x in enumerate(xs)}, pre={} if pre_activations else None)
    n, dtype = xs[0].shape[0], numpy.result_type(xs[0].dtype, params[arch.b_sh(arch.L)].dtype)

    def buf(name, width):  # where an activation goes: a workspace buffer, or None (allocate)
        return workspace.buffer(name, (n, width), xs[0], dtype)

    def f(M, name):  # the layer's activation f(M), computed in M's buffer (after copying M if asked)
        if fw.pre is not None:
            fw.pre[name] = M.copy()
        return sigmoid(M, out=M)

    for l in range(1, arch.L + 1):
        if l >= 2 and l in arch.modality_levels():
            for m in range(arch.M):
                fw.h[(m, l)] = f(modality_pre_activation(fw.h[(m, l - 1)], params[arch.W_mod(m, l - 1)],
                                                         params[arch.b_mod(m, l)],
                                                         out=buf(("h", m, l), arch.modality_sizes[m][l - 1])),
                                 f"h^{arch.names[m]}_{l}")
        if l in arch.shared_levels():
            fused = l in arch.fusion_levels()
            chain = arch.has_shared_chain(l)
            width = arch.shared_sizes[l - 1]
            fw.s[l] = f(shared_pre_activation(
                [fw.h[(m, l)] for m in range(arch.M)] if fused else [],
                [params[arch.W_fuse(m, l)] for m in range(arch.M)] if fused else [],
                fw.s[l - 1] if chain else None,
                params[arch.W_sh(l - 1)] if chain else None,
                params[arch.b_sh(l)],
                out=buf(("s", l), width), scratch=buf(("M", l), width), k=arch.shared_divisor(l)), f"s_{l}")
    if arch.n_classes is not None:
        fw.logits = affine_forward(fw.top, params[W_OUT], params[B_OUT], out=buf("logits", arch.n_classes))
    return fw
