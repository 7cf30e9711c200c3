"""Self-attention over the positions of a feature map (TensorFlow / Keras 3, NHWC): SAGAN's
block and ViT-style multi-head self-attention, optionally inside non-overlapping windows."""

from __future__ import annotations

from .._checks import (
    check_bool,
    check_feature_map,
    check_num_heads,
    check_optional_positive_int,
    check_reduction_ratio,
    check_window_divides,
)
from .._frameworks import import_tensorflow

tf = import_tensorflow()
keras = tf.keras


class SelfAttention2d(keras.layers.Layer):
    """SAGAN's self-attention block: every position attends to every other, plus a gated residual.

    Zhang et al., "Self-Attention Generative Adversarial Networks", ICML 2019, Sec. 3,
    Eq. (1)-(3). With ``N = H * W`` positions (row-major, ``n = h * W + w``) and 1x1
    convolutions (with biases) ``query`` and ``key`` (``C -> C // r``) and ``value``
    (``C -> C``)::

        s[i, j] = query(x)_i . key(x)_j                 (no 1/sqrt(d) scale)
        A[i, j] = exp(s[i, j]) / sum_j' exp(s[i, j'])    (softmax over the keys j)
        o_i     = sum_j A[i, j] value(x)_j
        y_i     = x_i + gamma * o_i                      (gamma: learnable scalar, init 0)

    In the paper's notation ``s_ij = f(x_i)^T g(x_j)`` and ``beta_{j,i}`` is normalised over
    ``i``: the position being synthesised, ``j``, is our query ``i`` (paper ``g``, official
    code ``theta``), the attended position is our key (paper ``f``, code ``phi``). Because
    ``gamma`` starts at 0 the block is the identity at initialisation (the paper's reason:
    rely on local cues first, then learn to use non-local evidence).

    Deliberate differences:

    * **Value path.** The ICML paper writes ``o_j = W_v (sum_i beta_{j,i} W_h x_i)`` with
      ``W_h: C -> C/8`` and ``W_v: C/8 -> C``; here one ``value`` conv ``C -> C`` (the
      single ``W_h: C -> C`` form, as in most re-implementations). The official code
      (``brain-research/self-attention-gan``, ``non_local.py``, ``sn_non_local_block_sim``)
      uses a third form: ``g`` to ``C/2`` (line 56), then ``sn_conv_attn`` ``C/2 -> C``
      (line 65).
    * **No key/value pooling.** The official code max-pools keys and values 2x2, stride 2
      (lines 46 and 57), so it attends to ``N / 4`` positions; we attend to all ``N``.
    * **Biases, no spectral norm.** The official 1x1 convolutions have no bias and are
      spectrally normalised (``sn_conv1x1``, lines 18-31), a GAN-training device; here they
      are plain ``keras.layers.Conv2D`` (kernel ``(1, 1, C, C')``, HWIO) with biases.
    * ``gamma`` (``add_weight``) has shape ``(1,)`` (official ``sigma_ratio``, shape ``[]``, line 63-64).

    Args:
        in_channels: number of input channels ``C``.
        reduction_ratio: query/key width ratio ``r``; they have ``C // r`` channels (paper: 8).
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: ``(B, H, W, C)`` float32 tensor (NHWC).

    Returns:
        ``y`` like ``x``; with ``return_attention=True`` also
        ``{"attention_weights": A}``, ``A`` of shape ``(B, 1, N, N)`` float32 (one head;
        rows are queries, columns keys, positions row-major ``n = h * W + w``, as in PyTorch
        and Paddle, so the parity layer does not transpose it; each row sums to 1).

    Raises:
        ValueError: ``in_channels`` not a positive integer; ``reduction_ratio`` not a positive
            integer ``<= in_channels``; input not 4-D or with a channel count other than
            ``in_channels``.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.reduction_ratio = check_reduction_ratio(
            type(self).__name__, in_channels, reduction_ratio
        )
        inner = self.in_channels // self.reduction_ratio
        self.query = keras.layers.Conv2D(inner, 1, name="query")
        self.key = keras.layers.Conv2D(inner, 1, name="key")
        self.value = keras.layers.Conv2D(self.in_channels, 1, name="value")
        for conv in (self.query, self.key, self.value):
            conv.build((None, None, None, self.in_channels))
        self.gamma = self.add_weight(shape=(1,), initializer="zeros", name="gamma")
        self.built = True

    def __call__(self, x, *args, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        check_feature_map(type(self).__name__, tuple(x.shape), self.in_channels, "NHWC")
        return super().__call__(x, *args, **kwargs)

    def call(self, x, return_attention=False):
        shape = tf.shape(x)
        b, h, w = shape[0], shape[1], shape[2]
        q = tf.reshape(self.query(x), (b, h * w, -1))  # (B, N, C')
        k = tf.reshape(self.key(x), (b, h * w, -1))  # (B, N, C')
        v = tf.reshape(self.value(x), (b, h * w, self.in_channels))  # (B, N, C)
        attn = tf.nn.softmax(tf.matmul(q, k, transpose_b=True), axis=-1)  # (B, N, N): [i, j] = q_i . k_j
        o = tf.reshape(tf.matmul(attn, v), shape)  # o_i = sum_j A[i, j] v_j
        y = x + self.gamma * o
        return (y, {"attention_weights": attn[:, None]}) if return_attention else y


class MultiHeadSelfAttention2d(keras.layers.Layer):
    """Multi-head self-attention over the ``H x W`` positions of a feature map (ViT), optionally
    restricted to non-overlapping windows (Swin without the shift).

    Tokens are the positions, row-major (``n = h * W + w``), each a ``C``-vector. One linear
    ``qkv`` (``C -> 3C``, bias iff ``qkv_bias``) gives queries, keys and values, split as in
    timm's ViT ``Attention``: the ``3C`` outputs reshape to ``(3, num_heads, d)``, q/k/v
    first, then heads, ``d = C // num_heads``. Per head ``h`` (Vaswani et al., "Attention Is
    All You Need", 2017, Eq. (1); Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR
    2021, Eq. (5)-(7) and Appendix A)::

        A_h = softmax(Q_h K_h^T / sqrt(d))     (softmax over keys)    (N_q, N_k)
        O_h = A_h V_h                                                  (N_q, d)
        y   = proj([O_1, ..., O_heads])        (proj: C -> C, with bias)

    ``y`` has the shape of ``x``. There is **no residual and no normalisation** inside: a
    Transformer block adds them outside (``x + MHSA(LN(x))``, ViT Eq. (2)), so this module
    is the bare attention mixer. Without a position encoding it is permutation-equivariant:
    permuting the input positions permutes the output positions the same way.

    ``window_size=w`` partitions the map into non-overlapping ``w x w`` windows (Liu et al.,
    "Swin Transformer", ICCV 2021, Sec. 3.2, ``window_partition``; no shifted windows, no
    relative position bias) and attends only inside each window: ``N = w * w`` tokens per
    window, cost ``O(H W w^2 C)`` instead of ``O((H W)^2 C)``. ``H`` and ``W`` must be
    multiples of ``w`` (no padding).

    Computation path: TensorFlow always uses the explicit ``softmax(q k^T * d^-1/2) v``
    (``tf.matmul``/``tf.nn.softmax``; ``keras.ops.dot_product_attention`` is the same
    arithmetic on CPU and is not used), so ``return_attention`` only changes what is
    returned. PyTorch and Paddle use their fused ``scaled_dot_product_attention`` when
    ``return_attention`` is false.

    ``qkv`` and ``proj`` are ``keras.layers.Dense`` (kernel ``(in, out)``, the transpose of
    PyTorch's ``(out, in)``; the parity layer converts), created and built in the constructor.

    Args:
        in_channels: token width ``C``.
        num_heads: number of heads; must divide ``C``.
        qkv_bias: whether ``qkv`` has a bias (timm's default ``True``).
        window_size: ``None`` for global attention, or the window side ``w``.
        **kwargs: passed to ``keras.layers.Layer`` (for example ``name``).

    Input:
        x: ``(B, H, W, C)`` float32 tensor (NHWC).

    Returns:
        ``y`` of shape ``(B, H, W, C)``; with ``return_attention=True`` also
        ``{"attention_weights": A}`` float32: global attention ``(B, heads, H*W, H*W)``;
        windowed ``(B * nW, heads, w*w, w*w)`` with ``nW = (H/w) * (W/w)`` windows ordered
        batch first, then windows row-major (index ``b * nW + (H/w-index) * (W/w) +
        (W/w-index)``), and tokens row-major inside a window. Rows are queries, columns keys. The same layout as
        PyTorch and Paddle (positions are flattened from NHWC row-major, ``n = h * W + w``).

    Raises:
        ValueError: ``in_channels`` not a positive integer; ``num_heads`` not a positive
            integer dividing it; ``qkv_bias`` not a bool; ``window_size`` neither ``None`` nor
            a positive integer; input not 4-D, with a channel count other than ``in_channels``,
            or with ``H`` or ``W`` not divisible by ``window_size``.
    """

    def __init__(
        self, in_channels: int, num_heads: int = 8, qkv_bias: bool = True, window_size: int | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.in_channels, self.num_heads = check_num_heads(owner, in_channels, num_heads)
        self.qkv_bias = check_bool(owner, "qkv_bias", qkv_bias)
        self.window_size = check_optional_positive_int(owner, "window_size", window_size)
        self.head_dim = self.in_channels // self.num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = keras.layers.Dense(3 * self.in_channels, use_bias=self.qkv_bias, name="qkv")
        self.proj = keras.layers.Dense(self.in_channels, name="proj")
        self.qkv.build((None, self.in_channels))
        self.proj.build((None, self.in_channels))
        self.built = True

    def __call__(self, x, *args, **kwargs):
        # Checked here rather than in call(): Keras 3 rewrites exceptions raised inside call()
        # (adding the call arguments and terminal colour codes); this keeps the message exact.
        owner = type(self).__name__
        check_feature_map(owner, tuple(x.shape), self.in_channels, "NHWC")
        check_window_divides(owner, tuple(x.shape), self.window_size, "NHWC")
        return super().__call__(x, *args, **kwargs)

    def _tokens(self, x):
        """``(B, H, W, C)`` -> ``(B', N, C)``: all positions, or one row per window."""
        shape = tf.shape(x)
        b, h, w, c = shape[0], shape[1], shape[2], self.in_channels
        if self.window_size is None:
            return tf.reshape(x, (b, h * w, c))
        s = self.window_size
        x = tf.transpose(tf.reshape(x, (b, h // s, s, w // s, s, c)), (0, 1, 3, 2, 4, 5))
        return tf.reshape(x, (b * (h // s) * (w // s), s * s, c))

    def _untokens(self, t, shape):
        """Inverse of :meth:`_tokens`: ``(B', N, C)`` -> ``(B, H, W, C)`` (``shape`` dynamic)."""
        if self.window_size is None:
            return tf.reshape(t, shape)
        b, h, w, c = shape[0], shape[1], shape[2], self.in_channels
        s = self.window_size
        t = tf.transpose(tf.reshape(t, (b, h // s, w // s, s, s, c)), (0, 1, 3, 2, 4, 5))
        return tf.reshape(t, shape)

    def call(self, x, return_attention=False):
        t = self._tokens(x)
        bt, n = tf.shape(t)[0], tf.shape(t)[1]
        qkv = tf.reshape(self.qkv(t), (bt, n, 3, self.num_heads, self.head_dim))
        qkv = tf.transpose(qkv, (2, 0, 3, 1, 4))
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B', heads, N, d)
        attn = tf.nn.softmax(tf.matmul(q * self.scale, k, transpose_b=True), axis=-1)  # (B', heads, N, N)
        o = tf.reshape(tf.transpose(tf.matmul(attn, v), (0, 2, 1, 3)), (bt, n, self.in_channels))
        y = self._untokens(self.proj(o), tf.shape(x))
        return (y, {"attention_weights": attn}) if return_attention else y
