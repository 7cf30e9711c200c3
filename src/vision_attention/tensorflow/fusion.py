"""Multi-scale feature fusion for image-quality regression (TensorFlow / Keras 3, NHWC): the IQA
fusion note's ``MultiScaleAttention``, its two ablation siblings and a small quality head.

Mirrors :mod:`vision_attention.torch.fusion` (same classes, arguments, defaults and canonical
parameter names): ``attention_net`` is a list ``[Dense, ReLU, Dropout, Dense]`` (PyTorch's
``nn.Sequential``; the list index is the name component, ``attention_net.0.weight``), Dense
kernels are ``(in, out)``, the 1x1 convolution's HWIO; the parity layer converts. Every weight
is created in the constructor, with Keras' default initialisers (not PyTorch's): load canonical
weights (:func:`vision_attention.parity.load_weights`) for the same start. The inputs are
checked in ``__call__``, before Keras' ``call``, which would rewrite the message of an
exception raised inside it.

``MultiScaleBackbone`` and ``BACKBONE_STAGES`` are PyTorch-only: the stage maps come from
torchvision's Swin-T or our PyTorch MobileNetV2 and are computed once, in PyTorch; the fusion
modules here take them as arrays (transposed to NHWC).
"""

from __future__ import annotations

from .._checks import check_bool, check_choice, check_feature_map, check_positive_int
from .._frameworks import import_tensorflow
from .._fusion_common import (FUSIONS, SWIN_T_CHANNELS, check_dropout, check_stage_channels, check_stage_inputs,
                              fused_channels, unpack_stages)

tf = import_tensorflow()
keras = tf.keras

__all__ = ["MultiScaleAttention", "MultiScaleConcat", "SingleScale", "QualityHead", "MultiScaleIQA"]


def _dense(units: int, in_features: int, name: str) -> keras.layers.Dense:
    """A built ``Dense`` (with bias) for ``in_features`` inputs."""
    dense = keras.layers.Dense(units, name=name)
    dense.build((None, in_features))
    return dense


def _average_pool(f, p: int):
    """``f`` (NHWC) average-pooled to ``p x p`` with window and stride ``(H / p, W / p)``; a map
    whose static size is already ``p x p`` is passed through. With an unknown height or width
    (a traced graph) the same average is taken over a reshape ``(B, p, H/p, p, W/p, C)``."""
    h, w = f.shape[1], f.shape[2]
    if (h, w) == (p, p):
        return f
    if h is not None and w is not None:
        window = (h // p, w // p)
        return tf.nn.avg_pool2d(f, window, window, "VALID")
    s = tf.shape(f)
    return tf.reduce_mean(tf.reshape(f, [s[0], p, s[1] // p, p, s[2] // p, s[3]]), axis=[2, 4])


class _StageFusion(keras.layers.Layer):
    """Shared part of the three fusion modules: the checks (in ``__call__``) and the pooling."""

    def __init__(self, in_channels=SWIN_T_CHANNELS, pool_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.in_channels = check_stage_channels(owner, in_channels)
        self.pool_size = check_positive_int(owner, "pool_size", pool_size)
        self.out_channels = fused_channels(self.kind, self.in_channels)
        self.built = True

    def check_features(self, features: tuple) -> list:
        """The stage maps (given positionally or as one list) as a list, checked."""
        features = list(unpack_stages(features))
        check_stage_inputs(type(self).__name__, [tuple(f.shape) for f in features], self.in_channels,
                           self.pool_size, "NHWC")
        return features

    def __call__(self, *features, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        return super().__call__(self.check_features(features), **kwargs)

    def _pooled(self, features) -> list:
        return [_average_pool(f, self.pool_size) for f in features]


class MultiScaleAttention(_StageFusion):
    """Attention-weighted multi-scale fusion, as the IQA fusion note defines it.

    Each of the ``S`` stage maps ``f_i`` is average-pooled to ``pool_size x pool_size``; the
    global average of the last stage drives a two-layer MLP whose softmax gives one weight
    per stage, and the scaled maps are concatenated:

    ``w = softmax(W_2 dropout(relu(W_1 GAP(f_{S-1}) + b_1)) + b_2)``, ``(B, S)``, rows sum to 1;
    ``y = concat_i(w_i * pool(f_i))`` along the channel (last) axis,
    ``(B, pool_size, pool_size, sum(in_channels))``.

    The MLP is ``attention_net`` = ``[Dense(hidden), ReLU, Dropout(dropout), Dense(S)]`` (indices
    0 and 3 hold the weights; Dense kernels ``(in, out)``, PyTorch's Linear ``(out, in)``), the
    note's ``attention_net``. It has ``C_last * hidden + hidden + hidden * S + S`` parameters:
    197,892 with the defaults, not the note's 197,632, which leaves out both biases. The note's
    setting is HyperIQA (Su et al., "Blindly Assess Image Quality in the Wild Guided by a
    Self-Adaptive Hyper Network", CVPR 2020; official code SSL92/hyperIQA ``models.py``) on a
    Swin-T trunk; this module is the note's, not part of HyperIQA. Deliberate difference: the
    note pools with ``adaptive_avg_pool2d``; we require sizes that ``pool_size`` divides, where
    adaptive pooling is a plain ``(H/p) x (W/p)`` average that the three frameworks compute
    identically. Dropout is active only when called with ``training=True``.

    Args:
        in_channels: channels of each stage, finest first (Swin-T's ``(96, 192, 384, 768)``).
        hidden: width of the MLP's hidden layer.
        dropout: dropout probability after the ReLU, in ``[0, 1)``.
        pool_size: side of the pooled maps.
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        ``S`` stage maps ``(B, H_i, W_i, in_channels[i])`` float32 (NHWC), ``H_i`` and ``W_i``
        divisible by ``pool_size``; positionally (``m(f0, f1, f2, f3)``) or as one list.

    Returns:
        ``(B, pool_size, pool_size, sum(in_channels))``; with ``return_attention=True`` also
        ``{"scale_weights": w}``, ``w`` of shape ``(B, S)``.

    Raises:
        ValueError: bad constructor arguments; ``return_attention`` not a bool; another number
            of stage maps than ``len(in_channels)``, a map that is not 4-D, has other channels
            than declared, another batch size, or a size ``pool_size`` does not divide.
    """

    kind = "attention"

    def __init__(self, in_channels=SWIN_T_CHANNELS, hidden: int = 256, dropout: float = 0.1, pool_size: int = 7,
                 **kwargs):
        super().__init__(in_channels, pool_size, **kwargs)
        owner = type(self).__name__
        self.hidden = check_positive_int(owner, "hidden", hidden)
        self.dropout = check_dropout(owner, dropout)
        self.attention_net = [
            _dense(self.hidden, self.in_channels[-1], "0"), keras.layers.ReLU(name="1"),
            keras.layers.Dropout(self.dropout, name="2"), _dense(len(self.in_channels), self.hidden, "3"),
        ]

    def __call__(self, *features, return_attention=False, **kwargs):
        check_bool(type(self).__name__, "return_attention", return_attention)
        return super().__call__(*features, return_attention=return_attention, **kwargs)

    def call(self, features, return_attention=False, training=None):
        pooled = self._pooled(features)
        z = tf.reduce_mean(pooled[-1], axis=[1, 2])
        for layer in self.attention_net:
            z = layer(z, training=training)
        w = tf.nn.softmax(z, axis=-1)  # (B, S)
        y = tf.concat([f * w[:, i, None, None, None] for i, f in enumerate(pooled)], axis=-1)
        return (y, {"scale_weights": w}) if return_attention else y


class MultiScaleConcat(_StageFusion):
    """The IQA fusion note's baseline: every stage average-pooled to ``pool_size x pool_size``
    and concatenated along the channel (last) axis, with the same weight for every image.

    Input and errors as :class:`MultiScaleAttention` (NHWC); output
    ``(B, p, p, sum(in_channels))``. No parameters.
    """

    kind = "concat"

    def call(self, features):
        return tf.concat(self._pooled(features), axis=-1)


class SingleScale(_StageFusion):
    """The single-scale variant of the note's ablation: the last stage alone, pooled to
    ``pool_size x pool_size``. Takes all ``S`` stage maps (checked like
    :class:`MultiScaleAttention`'s) so the three variants are interchangeable; output
    ``(B, p, p, in_channels[-1])`` (NHWC). No parameters."""

    kind = "single"

    def call(self, features):
        return self._pooled(features)[-1]


_FUSION_CLASSES = {cls.kind: cls for cls in (MultiScaleAttention, MultiScaleConcat, SingleScale)}


class QualityHead(keras.layers.Layer):
    """A small quality-regression head: ``fc(GAP(relu(conv(x))))``, one score per image.

    ``conv`` is a 1x1 ``Conv2D`` ``in_channels -> hidden`` (with bias, kernel HWIO), then ReLU,
    global average pooling and ``fc`` = ``Dense(1)`` (kernel ``(hidden, 1)``). Ours (documented,
    not the note's, which feeds HyperIQA's hyper network): on scaled stage maps the 1x1
    convolution mixes ``sum_i w_i W_i f_i``, so the fusion weights change how much each stage
    contributes.

    Input ``(B, H, W, in_channels)`` float32 (NHWC); output ``(B, 1)``.

    Raises:
        ValueError: a non-positive ``in_channels`` / ``hidden``; an input that is not 4-D with
            ``in_channels`` channels (last axis).
    """

    def __init__(self, in_channels: int, hidden: int = 64, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        self.hidden = check_positive_int(owner, "hidden", hidden)
        self.conv = keras.layers.Conv2D(self.hidden, 1, name="conv")
        self.conv.build((None, None, None, self.in_channels))
        self.fc = _dense(1, self.hidden, "fc")
        self.built = True

    def __call__(self, x, **kwargs):
        # Checked here rather than in call() (see _StageFusion.__call__).
        check_feature_map(type(self).__name__, tuple(x.shape), self.in_channels, "NHWC")
        return super().__call__(x, **kwargs)

    def call(self, x):
        return self.fc(tf.reduce_mean(tf.nn.relu(self.conv(x)), axis=[1, 2]))


class MultiScaleIQA(keras.Model):
    """A quality regressor on multi-scale stage maps: ``head(fusion(f_0, ..., f_{S-1}))``.

    ``fusion`` is the one switch of the IQA fusion note's ablation (``FUSIONS``):
    ``"attention"`` (:class:`MultiScaleAttention`), ``"concat"`` (:class:`MultiScaleConcat`)
    or ``"single"`` (:class:`SingleScale`); ``head`` is a :class:`QualityHead` on its output.
    Call with ``training=True`` for dropout in the attention MLP; the default is inference.

    Args:
        in_channels, hidden, dropout, pool_size: as :class:`MultiScaleAttention` (``hidden``
            and ``dropout`` are used by ``"attention"`` only).
        fusion: ``"attention"``, ``"concat"`` or ``"single"``.
        head_channels: hidden width of the :class:`QualityHead`.
        **kwargs: passed to ``keras.Model`` (for example ``name``).

    Input:
        ``S`` stage maps ``(B, H_i, W_i, in_channels[i])`` float32 (NHWC), as
        :class:`MultiScaleAttention`.

    Returns:
        scores ``(B, 1)``; with ``return_attention=True`` also a dict: ``{"scale_weights":
        (B, S)}`` for ``"attention"``, empty for the others (they weigh nothing).

    Raises:
        ValueError: an unknown ``fusion``; ``return_attention`` not a bool; errors of the fusion
            module (named after it, e.g. ``MultiScaleAttention: ...``) and the head.
    """

    def __init__(self, in_channels=SWIN_T_CHANNELS, fusion: str = "attention", hidden: int = 256,
                 dropout: float = 0.1, pool_size: int = 7, head_channels: int = 64, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.fusion_kind = check_choice(owner, "fusion", fusion, FUSIONS)
        # Checked here for every fusion (the siblings do not use them) and under this class's name.
        check_positive_int(owner, "hidden", hidden)
        check_dropout(owner, dropout)
        check_positive_int(owner, "head_channels", head_channels)
        if fusion == "attention":
            self.fusion = MultiScaleAttention(in_channels, hidden, dropout, pool_size, name="fusion")
        else:
            self.fusion = _FUSION_CLASSES[fusion](in_channels, pool_size, name="fusion")
        self.head = QualityHead(self.fusion.out_channels, head_channels, name="head")
        self.built = True

    def __call__(self, *features, return_attention=False, **kwargs):
        # Checked here rather than in call() (see _StageFusion.__call__), in PyTorch's order.
        check_bool(type(self).__name__, "return_attention", return_attention)
        features = self.fusion.check_features(features)
        return super().__call__(features, return_attention=return_attention, **kwargs)

    def call(self, features, return_attention=False, training=None):
        if self.fusion_kind == "attention":
            fused, attention = self.fusion(features, return_attention=True, training=training)
        else:
            fused, attention = self.fusion(features, training=training), {}
        score = self.head(fused, training=training)
        return (score, attention) if return_attention else score
