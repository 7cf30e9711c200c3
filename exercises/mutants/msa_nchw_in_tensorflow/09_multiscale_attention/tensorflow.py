"""Exercise 09 (TensorFlow / Keras 3): the forward pass of the IQA fusion note's multi-scale attention fusion."""

import keras
import tensorflow as tf


class MultiScaleAttention(keras.layers.Layer):
    """Attention-weighted multi-scale fusion, as the IQA fusion note defines it: ``S`` stage
    maps of a backbone (finest first, e.g. Swin-T's four stages) are pooled to one size, weighted
    by a softmax that the last stage's content decides, and concatenated. The note's setting is
    HyperIQA (Su et al., "Blindly Assess Image Quality in the Wild Guided by a Self-Adaptive
    Hyper Network", CVPR 2020); this module is the note's, not part of HyperIQA::

        p_i = avgpool(f_i)                      (B, p, p, C_i), window (H_i / p) x (W_i / p)
        w   = softmax(attention_net(GAP(p_{S-1})))   (B, S), each row sums to 1
        y   = concat_i(w[:, i] * p_i)            (B, p, p, C_0 + ... + C_{S-1})

    TensorFlow takes and returns **NHWC** (channels last); PyTorch's and Paddle's versions of
    this exercise take NCHW. The grader builds NCHW arrays and converts them for you.

    The constructor is written for you; the grader loads its weights into this attribute (keep
    its name) and converts them from PyTorch's layouts for you:

    * ``attention_net``: ``keras.Sequential([Dense(hidden), ReLU(), Dropout(dropout),
      Dense(S)])`` on ``C_last = in_channels[-1]`` inputs: layer 0 with kernel
      ``(C_last, hidden)`` and bias ``(hidden,)``, layer 3 with kernel ``(hidden, S)`` and bias
      ``(S,)``; layers 1 and 2 (ReLU, Dropout) hold no weights. It is built in the constructor,
      so the grader can load its weights before the first call.

    The grader calls the layer as ``layer(features, training=False)`` (and with
    ``return_attention=True``): pass ``training`` on to ``attention_net`` so that its Dropout
    passes its input through unchanged.

    Forward, for ``features``, a list of ``S`` float32 tensors (NHWC), ``features[i]`` of shape
    ``(B, H_i, W_i, in_channels[i])`` with ``H_i`` and ``W_i`` multiples of ``pool_size``
    (``p``); maps may be non-square, and a map may already be ``p x p``:

    1. average-pool every stage to ``p x p``: non-overlapping windows of ``(H_i / p) x (W_i / p)``
       positions (a map already ``p x p`` stays as it is);
    2. ``g = `` the global average over height and width of the last (coarsest) pooled stage,
       shape ``(B, C_last)``;
    3. ``w = softmax(attention_net(g))`` over the ``S`` stages: shape ``(B, S)``, one weight per
       image and stage, each image's weights summing to 1;
    4. ``y``: the pooled stages in stage order (finest first), each multiplied by its image's
       weight ``w[b, i]`` (broadcast over positions and channels), concatenated along the
       channels (the last axis): shape ``(B, p, p, sum(in_channels))``.

    With ``return_attention=True`` return the pair ``(y, {"scale_weights": w})``; otherwise
    ``y`` alone. ``features[i].shape`` gives ``H_i`` and ``W_i`` (the grader calls the layer
    eagerly).

    Args:
        in_channels: channels of each stage, finest first (a list of ``S`` ints).
        hidden: width of the MLP's hidden layer.
        dropout: dropout probability after the ReLU (inactive with ``training=False``).
        pool_size: side ``p`` of the pooled maps.
    """

    def __init__(self, in_channels, hidden: int = 256, dropout: float = 0.1, pool_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.in_channels = tuple(int(c) for c in in_channels)
        self.hidden, self.dropout, self.pool_size = int(hidden), float(dropout), int(pool_size)
        self.attention_net = keras.Sequential([
            keras.layers.Dense(self.hidden), keras.layers.ReLU(), keras.layers.Dropout(self.dropout),
            keras.layers.Dense(len(self.in_channels)),
        ])
        self.attention_net.build((None, self.in_channels[-1]))  # the weights exist before the first call

    def call(self, features, return_attention: bool = False, training=None):
        p = self.pool_size
        pooled = []
        for f in features:
            window = (f.shape[2] // p, f.shape[3] // p)  # NCHW habit on NHWC tensors
            pooled.append(tf.nn.avg_pool2d(f, ksize=window, strides=window, padding="VALID"))
        g = tf.reduce_mean(pooled[-1], axis=(2, 3))  # (B, C_last)
        w = tf.nn.softmax(self.attention_net(g, training=training), axis=-1)  # (B, S)
        y = tf.concat([f * w[:, i, None, None, None] for i, f in enumerate(pooled)], axis=1)
        return (y, {"scale_weights": w}) if return_attention else y
