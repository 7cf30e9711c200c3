"""Non-local block (TensorFlow / Keras 3, NHWC): every position attends to every (sub-sampled) position."""

from __future__ import annotations

import math

from .._checks import (
    check_bool,
    check_choice,
    check_feature_map,
    check_min_spatial_size,
    check_optional_positive_int,
    check_positive_int,
)
from .._frameworks import import_tensorflow

tf = import_tensorflow()
keras = tf.keras

MODES = ("embedded_gaussian", "dot_product", "gaussian", "concatenation")
"""The pairwise functions ``f`` of Wang et al., Sec. 3.2, as ``NonLocalBlock(mode=...)``."""
_POOL_REASON = "sub_sample=True max-pools keys and values 2x2"


def _conv(filters: int, cin: int, name: str, zero: bool = False, use_bias: bool = True):
    """A built 1x1 ``Conv2D``: weights N(0, 0.01^2) (or zeros) and zero bias."""
    kernel = "zeros" if zero else keras.initializers.RandomNormal(stddev=0.01)
    conv = keras.layers.Conv2D(filters, 1, use_bias=use_bias, kernel_initializer=kernel,
                               bias_initializer="zeros", name=name)
    conv.build((None, None, None, cin))
    return conv


class NonLocalBlock(keras.layers.Layer):
    """Non-local block: a residual self-attention over all positions of a feature map.

    Wang et al., "Non-local Neural Networks", CVPR 2018, Eq. (1) and (6)::

        y_i = 1 / C(x) * sum_j f(x_i, x_j) g(x_j),     g(x_j) = W_g x_j
        z_i = BN(W_z y_i) + x_i

    with ``i`` over the ``N = H * W`` query positions and ``j`` over the key positions
    (``N_k = N``, or ``(H // 2) * (W // 2)`` with ``sub_sample``). ``theta``, ``phi`` and ``g``
    are 1x1 convolutions (with bias, as the official code) from ``C`` to ``d = inter_channels``
    channels; ``W`` is a 1x1 convolution (with bias) from ``d`` back to ``C``, and ``bn`` a
    BatchNorm (``epsilon=1e-5``, Keras ``momentum=0.9``, i.e. PyTorch's 0.1 and the official
    Caffe2 momentum 0.9). The
    normalised pairwise weights ``A_ij = f(x_i, x_j) / C(x)`` per ``mode`` (Sec. 3.2):

    * ``"embedded_gaussian"`` (Eq. 3): ``A_i = softmax_j(s * theta(x_i)^T phi(x_j))``;
    * ``"dot_product"`` (Eq. 4): ``A_ij = s * theta(x_i)^T phi(x_j) / N_k``;
    * ``"gaussian"`` (Eq. 2): ``A_i = softmax_j(s * x_i^T x_j)``, no embedding (no ``theta``,
      no ``phi``; ``g`` still projects);
    * ``"concatenation"`` (Eq. 5): ``A_ij = s * ReLU(w_f^T [theta(x_i); phi(x_j)]) / N_k``, ``w_f``
      a bias-free 1x1 convolution ``concat_project`` from ``2d`` channels to 1 (as the port
      ``AlexHex7/Non-local_pytorch``, ``lib/non_local_concatenation.py``). It is evaluated as
      ``ReLU(w_theta^T theta(x_i) + w_phi^T phi(x_j))``, the same sum, without building the
      ``(B, 2d, N, N_k)`` concatenation.

    ``s = 1`` (the paper) unless ``scale=True``, which sets ``s = 1 / sqrt(d_f)``, ``d_f`` the
    length of the vectors whose affinity is taken: ``inter_channels``, and ``in_channels`` in
    ``"gaussian"`` mode (where ``x_i^T x_j`` runs over the input channels).

    Sub-sampling (Sec. 3.3): ``sub_sample=True`` max-pools 2x2 (stride 2, floor) the outputs of
    ``phi`` and ``g`` (in ``"gaussian"`` mode: the keys ``x`` and the output of ``g``), never the
    queries, so ``N_k = (H // 2) * (W // 2)``.

    Initialisation: ``theta``, ``phi``, ``g``, ``W`` (and ``concat_project``) weights
    ``N(0, 0.01^2)`` and zero biases (official ``CONV_INIT_STD = 0.01``). With ``bn_layer=True``
    the BatchNorm's ``weight`` (gamma) and ``bias`` (beta) are zero (official
    ``BN_INIT_GAMMA = 0.0``); with ``bn_layer=False`` there is no ``bn`` and ``W``'s weight and
    bias are zero. Either way a fresh block is the identity, ``z = x`` (Sec. 3.3), so it can be
    inserted into a pre-trained network.

    Canonical parameter names: ``theta.*``, ``phi.*`` (not in ``"gaussian"`` mode), ``g.*``,
    ``W.weight``, ``W.bias``, ``bn.*`` (with ``bn_layer``), ``concat_project.weight`` (in
    ``"concatenation"`` mode only).

    Keras layout note: the convolutions are ``keras.layers.Conv2D`` with kernels
    ``(1, 1, in, out)`` (HWIO), ``bn`` is ``keras.layers.BatchNormalization`` over the last axis;
    every weight is created in the constructor. Positions are flattened from ``(H, W)``
    row-major, ``n = h * W + w``, exactly as in the NCHW frameworks, so the attention weights
    need no layout conversion.

    Differences from the official code (``facebookresearch/video-nonlocal-net``,
    ``lib/models/nonlocal_helper.py``, ``lib/core/config.py``), deliberate:

    * the official code multiplies ``theta^T phi`` by ``dim_inner ** -0.5`` before the softmax
      when ``cfg.NONLOCAL.USE_SCALE`` is set (``nonlocal_helper.py`` lines 85-89), and that is
      its default (``config.py`` line 204); the paper writes no scale. Here ``scale=False``
      (the paper) is the default;
    * the official code max-pools the block *input* and applies the ``phi`` and ``g``
      convolutions to the pooled map (lines 35-65); we pool the *outputs* of ``phi`` and ``g``,
      as the paper's Sec. 3.3 ("a max pooling layer after phi and g") and the port
      ``AlexHex7/Non-local_pytorch``. A 1x1 convolution does not commute with max-pooling,
      so the two differ;
    * the official code has only the softmax (embedded Gaussian) and the divide-by-``N``
      (dot product) forms; ``"gaussian"`` and ``"concatenation"`` follow the paper and the port;
    * 2-D (images) only; the official block is spatio-temporal (pooling ``1 x 2 x 2``).

    Args:
        in_channels: number of input channels ``C``.
        inter_channels: embedding width ``d``; ``None`` means ``max(C // 2, 1)`` (Sec. 3.3).
        mode: one of ``"embedded_gaussian"``, ``"dot_product"``, ``"gaussian"``,
            ``"concatenation"``.
        sub_sample: max-pool keys and values 2x2 (Sec. 3.3).
        bn_layer: BatchNorm after ``W`` (Sec. 3.3: zero-initialised gamma).
        scale: multiply the affinities by ``1 / sqrt(d_f)`` (the official ``USE_SCALE``).
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: ``(B, H, W, C)`` float32 tensor (NHWC); ``H, W >= 2`` with ``sub_sample``.

    Returns:
        ``z`` like ``x``; with ``return_attention=True`` also ``{"attention_weights": A}``,
        ``A`` float32 of shape ``(B, 1, N, N_k)``, positions flattened row-major
        (``n = h * W + w``); its rows sum to 1 in the two softmax modes.

    Raises:
        ValueError: ``in_channels`` not a positive integer; ``inter_channels`` neither a
            positive integer nor ``None``; ``mode`` not one of the four; ``sub_sample``,
            ``bn_layer`` or ``scale`` not a bool; input not 4-D, with a channel count other
            than ``in_channels``, or (with ``sub_sample``) smaller than 2 in height or width.
    """

    def __init__(
        self,
        in_channels: int,
        inter_channels: int | None = None,
        mode: str = "embedded_gaussian",
        sub_sample: bool = False,
        bn_layer: bool = True,
        scale: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.in_channels = check_positive_int(owner, "in_channels", in_channels)
        inter = check_optional_positive_int(owner, "inter_channels", inter_channels)
        self.inter_channels = max(self.in_channels // 2, 1) if inter is None else inter
        self.mode = check_choice(owner, "mode", mode, MODES)
        self.sub_sample = check_bool(owner, "sub_sample", sub_sample)
        self.bn_layer = check_bool(owner, "bn_layer", bn_layer)
        self.scale = check_bool(owner, "scale", scale)
        c, d = self.in_channels, self.inter_channels

        if self.mode != "gaussian":
            self.theta = _conv(d, c, "theta")
            self.phi = _conv(d, c, "phi")
        self.g = _conv(d, c, "g")
        if self.mode == "concatenation":
            self.concat_project = _conv(1, 2 * d, "concat_project", use_bias=False)
        self.W = _conv(c, d, "W", zero=not self.bn_layer)
        if self.bn_layer:
            self.bn = keras.layers.BatchNormalization(
                epsilon=1e-5, momentum=0.9, gamma_initializer="zeros", beta_initializer="zeros", name="bn"
            )
            self.bn.build((None, None, None, c))
        affinity_dim = c if self.mode == "gaussian" else d
        self._scale = 1.0 / math.sqrt(affinity_dim) if self.scale else 1.0
        self.built = True

    def __call__(self, x, *args, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        owner = type(self).__name__
        check_feature_map(owner, tuple(x.shape), self.in_channels, "NHWC")
        if self.sub_sample:
            check_min_spatial_size(owner, tuple(x.shape), "NHWC", 2, _POOL_REASON)
        return super().__call__(x, *args, **kwargs)

    def _keys(self, t):
        """``(B, h, w, c)`` -> ``(B, N_k, c)``, max-pooled 2x2 with ``sub_sample``; row-major positions."""
        if self.sub_sample:
            t = tf.nn.max_pool2d(t, ksize=2, strides=2, padding="VALID")
        shape = tf.shape(t)
        return tf.reshape(t, (shape[0], shape[1] * shape[2], t.shape[-1]))

    def call(self, x, return_attention=False, training=None):
        shape = tf.shape(x)
        b, h, w = shape[0], shape[1], shape[2]
        d = self.inter_channels
        value = self._keys(self.g(x))  # (B, N_k, d)
        if self.mode == "gaussian":
            query = tf.reshape(x, (b, h * w, self.in_channels))  # (B, N, C)
            key = self._keys(x)  # (B, N_k, C)
        else:
            query = tf.reshape(self.theta(x), (b, h * w, d))  # (B, N, d)
            key = self._keys(self.phi(x))  # (B, N_k, d)
        n_keys = tf.cast(tf.shape(key)[1], x.dtype)

        if self.mode == "concatenation":
            w_f = self.concat_project.kernel[0, 0, :, 0]  # (2d,): [w_theta; w_phi]
            a = tf.linalg.matvec(query, w_f[:d])  # (B, N)
            k = tf.linalg.matvec(key, w_f[d:])  # (B, N_k)
            f = tf.nn.relu(a[:, :, None] + k[:, None, :]) * self._scale
            attention = f / n_keys
        else:
            f = tf.matmul(query, key, transpose_b=True) * self._scale  # (B, N, N_k)
            attention = tf.nn.softmax(f, axis=-1) if self.mode != "dot_product" else f / n_keys

        y = tf.reshape(tf.matmul(attention, value), (b, h, w, d))
        w_y = self.W(y)
        if self.bn_layer:
            w_y = self.bn(w_y, training=training)
        z = w_y + x
        return (z, {"attention_weights": attention[:, None]}) if return_attention else z
