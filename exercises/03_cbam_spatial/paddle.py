"""Exercise 03 (PaddlePaddle): the spatial attention branch of CBAM."""

import paddle
from paddle import nn


class SpatialAttention(nn.Layer):
    """CBAM's spatial attention (Woo et al., ECCV 2018, Eq. 3), as in the official code.

    ``Ms = sigmoid(BN(conv_kxk([max_c(x); mean_c(x)])))`` and ``y = x * Ms``. Follow the
    official code (``Jongchan/attention-module``, ``MODELS/cbam.py``: ``ChannelPool``,
    ``SpatialGate``) where it differs from the paper's equation: the maximum map comes
    **first**, the convolution has **no bias** and is followed by a **BatchNorm**.

    Build, with exactly these attribute names (the grader loads its weights into them):

    * ``conv``: ``nn.Conv2D(2, 1, k, padding=(k - 1) // 2, bias_attr=False)``, weight
      ``(1, 2, k, k)`` float32 (OIHW; input channel 0 sees the max map, 1 the mean map);
    * ``bn``: ``nn.BatchNorm2D(1, momentum=0.99, epsilon=1e-5)`` (Paddle's momentum is the
      weight of the *old* statistic: PyTorch's 0.01): ``weight``, ``bias``, ``_mean``,
      ``_variance``, each of shape ``(1,)`` (the grader maps PyTorch's ``running_mean`` /
      ``running_var`` onto ``_mean`` / ``_variance``).

    The grader calls the layer in inference mode (``.eval()``), so ``bn`` normalises with
    its running statistics: ``(v - _mean) / sqrt(_variance + epsilon) * weight + bias``.

    Forward, for ``x`` of shape ``(B, C, H, W)`` float32 (NCHW), any ``C``:

    1. pool over the channel axis: ``max_c(x)`` and ``mean_c(x)``, each ``(B, 1, H, W)``;
    2. concatenate them along the channel axis, max first: ``(B, 2, H, W)``;
    3. ``Ms = sigmoid(bn(conv(pooled)))``, shape ``(B, 1, H, W)`` (zero padding keeps H x W);
    4. return ``x * Ms`` (``Ms`` broadcast over the channels), shape ``(B, C, H, W)``.

    Args:
        kernel_size: odd ``k`` (the paper uses 7).
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv = nn.Conv2D(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias_attr=False)
        self.bn = nn.BatchNorm2D(1, momentum=0.99, epsilon=1e-5)
        ### END SOLUTION

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        ### BEGIN SOLUTION
        pooled = paddle.concat([x.amax(axis=1, keepdim=True), x.mean(axis=1, keepdim=True)], axis=1)
        return x * nn.functional.sigmoid(self.bn(self.conv(pooled)))
        ### END SOLUTION
