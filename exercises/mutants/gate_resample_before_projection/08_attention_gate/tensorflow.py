"""Exercise 08 (TensorFlow / Keras 3): the forward pass of Attention U-Net's additive attention gate."""

import keras
import tensorflow as tf


class AttentionGate(keras.layers.Layer):
    """Additive attention gate of Attention U-Net as the study notes write it (Oktay et al.,
    "Attention U-Net: Learning Where to Look for the Pancreas", MIDL 2018, Eq. (1)-(2), with
    BatchNorm after each projection as in ``LeeJunHyun/Image_Segmentation``'s
    ``Attention_block``).

    The gating signal ``g`` (coarser, from the decoder) decides where the skip features ``x``
    pass::

        alpha = sigmoid(BN(psi(relu(up(BN(W_g g)) + BN(W_x x)))))     (B, H, W, 1), in (0, 1)
        y     = x * alpha                                            (B, H, W, F_l)

    The constructor is written for you; the grader loads its weights into these attributes
    (keep their names) and converts them from PyTorch's layouts for you:

    * ``W_g``: ``keras.Sequential([Conv2D(F_int, 1), BatchNormalization()])``: layer 0 with
      kernel ``(1, 1, F_g, F_int)`` (HWIO) and bias ``(F_int,)``; layer 1 with ``gamma``,
      ``beta``, ``moving_mean``, ``moving_variance``, each ``(F_int,)``;
    * ``W_x``: the same from ``F_l`` to ``F_int`` channels (kernel ``(1, 1, F_l, F_int)``);
    * ``psi``: ``keras.Sequential([Conv2D(1, 1), BatchNormalization(), Activation("sigmoid")])``:
      layer 0 with kernel ``(1, 1, F_int, 1)`` and bias ``(1,)``, layer 1 a BatchNorm of one
      channel, layer 2 the sigmoid (no weights).

    Every BatchNormalization has ``epsilon=1e-5`` (Keras's default is 1e-3) and
    ``momentum=0.9`` (Keras's momentum is the weight of the *old* statistic: PyTorch's 0.1),
    over the last axis. Every sub-layer is built in the constructor, so the grader can load its
    weights before the first call. The grader calls the layer as ``layer(x, g, training=False)``
    (and with ``return_attention=True``): pass ``training`` on to ``W_g``, ``W_x`` and ``psi`` so
    that their BatchNorms normalise with their moving statistics.

    Forward, for ``x`` of shape ``(B, H, W, F_l)`` and ``g`` of shape ``(B, h, w, F_g)``,
    float32 (NHWC, TensorFlow's layout), with ``h <= H`` and ``w <= W``:

    1. ``g1 = W_g(g)``, shape ``(B, h, w, F_int)``; when ``(h, w) != (H, W)``, resample it to
       ``(H, W)`` **bilinearly with half-pixel centres** (what TensorFlow 2's
       ``tf.image.resize`` does);
    2. ``x1 = W_x(x)``, shape ``(B, H, W, F_int)``;
    3. ``alpha = psi(relu(g1 + x1))``, shape ``(B, H, W, 1)``;
    4. ``y = x * alpha`` (``alpha`` broadcast over the ``F_l`` channels).

    Resampling ``g`` before ``W_g`` instead of after gives the same result (a 1x1 convolution
    and an inference-mode BatchNorm act on each position alone, and the bilinear weights of
    every output position sum to 1), so either order is accepted.

    With ``return_attention=True`` return the pair ``(y, alpha)``; otherwise ``y`` alone.
    ``x.shape`` gives ``H`` and ``W`` (the grader calls the layer eagerly).

    Args:
        F_g: channels of the gating signal ``g``.
        F_l: channels of the skip features ``x``.
        F_int: channels of the intermediate projection.
    """

    def __init__(self, F_g: int, F_l: int, F_int: int, **kwargs):
        super().__init__(**kwargs)
        self.F_g, self.F_l, self.F_int = F_g, F_l, F_int

        def norm():
            return keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9)

        self.W_g = keras.Sequential([keras.layers.Conv2D(F_int, 1), norm()])
        self.W_x = keras.Sequential([keras.layers.Conv2D(F_int, 1), norm()])
        self.psi = keras.Sequential([keras.layers.Conv2D(1, 1), norm(), keras.layers.Activation("sigmoid")])
        for block, cin in ((self.W_g, F_g), (self.W_x, F_l), (self.psi, F_int)):
            block.build((None, None, None, cin))  # the weights exist before the first call

    def call(self, x: tf.Tensor, g: tf.Tensor, return_attention: bool = False, training=None):
        if g.shape[1:3] != x.shape[1:3]:
            g = tf.image.resize(g, x.shape[1:3], method="bilinear")  # resample g itself, then project
        g1 = self.W_g(g, training=training)
        alpha = self.psi(tf.nn.relu(g1 + self.W_x(x, training=training)), training=training)  # (B, H, W, 1)
        y = x * alpha
        return (y, alpha) if return_attention else y
