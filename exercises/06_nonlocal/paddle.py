"""Exercise 06 (PaddlePaddle): the forward pass of an embedded-Gaussian non-local block."""

import paddle
from paddle import nn


class NonLocalBlock(nn.Layer):
    """Embedded-Gaussian non-local block (Wang et al., "Non-local Neural Networks", CVPR 2018,
    Eq. (1), (3) and (6); official code ``facebookresearch/video-nonlocal-net``,
    ``lib/models/nonlocal_helper.py``), for images and without sub-sampling.

    Every position attends to every position of the same feature map::

        A_i = softmax_j( theta(x_i)^T phi(x_j) )      (one row per query position i)
        y_i = sum_j A_ij g(x_j)
        z_i = bn(W(y_i)) + x_i

    The constructor is written for you; the grader loads its weights into these attributes
    (keep their names):

    * ``theta``, ``phi``, ``g``: ``nn.Conv2D(C, C_inter, 1)`` with bias, weight
      ``(C_inter, C, 1, 1)`` (OIHW, as PyTorch): the queries, keys and values;
    * ``W``: ``nn.Conv2D(C_inter, C, 1)`` with bias, weight ``(C, C_inter, 1, 1)``;
    * ``bn``: ``nn.BatchNorm2D(C, momentum=0.9, epsilon=1e-5)`` (Paddle's momentum is the
      weight of the *old* statistic: PyTorch's 0.1): ``weight``, ``bias``, ``_mean``,
      ``_variance``, each ``(C,)``.

    The grader calls the layer in inference mode (``.eval()``), so ``bn`` normalises with its
    running statistics ``_mean`` and ``_variance``.

    Forward, for ``x`` of shape ``(B, C, H, W)`` float32 (NCHW), with ``N = H * W`` and
    ``d = C_inter``; positions are flattened row-major, ``n = h * W + w`` (what ``flatten``
    and ``reshape`` of the last two axes give):

    1. queries ``theta(x)`` as ``(B, N, d)``, keys ``phi(x)`` as ``(B, d, N)``, values
       ``g(x)`` as ``(B, N, d)`` (flatten H, W into N; transpose where needed);
    2. affinities ``f = queries @ keys``, shape ``(B, N, N)``: ``f[b, i, j]`` is the dot
       product of query position ``i`` with key position ``j``; no scaling (the paper's form);
    3. ``A = softmax of f over the last axis`` (the keys ``j``): every row ``A[b, i, :]``
       sums to 1;
    4. ``y = A @ values``, shape ``(B, N, d)``, back to ``(B, d, H, W)`` (a transpose, then a
       reshape);
    5. return ``z = bn(W(y)) + x``, shape ``(B, C, H, W)``.

    With ``return_attention=True`` return the pair ``(z, A)``, ``A`` of shape ``(B, N, N)``
    float32; otherwise ``z`` alone.

    Args:
        in_channels: ``C``.
        inter_channels: ``d = C_inter``, the embedding width; ``None`` means
            ``max(C // 2, 1)`` (the paper's half width).
    """

    def __init__(self, in_channels: int, inter_channels: int | None = None):
        super().__init__()
        self.in_channels = in_channels
        self.inter_channels = max(in_channels // 2, 1) if inter_channels is None else inter_channels
        d = self.inter_channels
        self.theta = nn.Conv2D(in_channels, d, 1)
        self.phi = nn.Conv2D(in_channels, d, 1)
        self.g = nn.Conv2D(in_channels, d, 1)
        self.W = nn.Conv2D(d, in_channels, 1)
        self.bn = nn.BatchNorm2D(in_channels, momentum=0.9, epsilon=1e-5)

    def forward(self, x: paddle.Tensor, return_attention: bool = False):
        ### BEGIN SOLUTION
        b, _, h, w = x.shape
        query = self.theta(x).flatten(2).transpose([0, 2, 1])  # (B, N, d)
        key = self.phi(x).flatten(2)  # (B, d, N)
        value = self.g(x).flatten(2).transpose([0, 2, 1])  # (B, N, d)
        attention = nn.functional.softmax(paddle.matmul(query, key), axis=-1)  # (B, N, N)
        y = paddle.matmul(attention, value).transpose([0, 2, 1]).reshape([b, self.inter_channels, h, w])
        z = self.bn(self.W(y)) + x
        return (z, attention) if return_attention else z
        ### END SOLUTION
