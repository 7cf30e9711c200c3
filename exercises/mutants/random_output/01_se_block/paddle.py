"""Exercise 01 (PaddlePaddle): the forward pass of a Squeeze-and-Excitation block."""

import paddle
from paddle import nn


class SEBlock(nn.Layer):
    """Squeeze-and-Excitation channel attention (Hu et al., CVPR 2018, Eq. 2-4).

    Build two fully connected layers *with biases*, named exactly ``fc1`` (``C -> C // r``)
    and ``fc2`` (``C // r -> C``); the grader loads its weights into them by these names
    (Paddle's ``Linear`` stores its weight as ``(in, out)``; the grader transposes for you).

    Forward, for ``x`` of shape ``(B, C, H, W)`` float32 (NCHW):

    1. squeeze: ``z = mean of x over H and W``, shape ``(B, C)``;
    2. excitation: ``s = sigmoid(fc2(relu(fc1(z))))``, shape ``(B, C)``;
    3. scale: return ``x * s`` with ``s`` broadcast over ``H`` and ``W``, shape ``(B, C, H, W)``.

    Args:
        in_channels: ``C``.
        reduction_ratio: ``r``; the hidden layer has ``C // r`` units.
    """

    def __init__(self, in_channels: int, reduction_ratio: int = 16):
        super().__init__()
        hidden = in_channels // reduction_ratio
        self.fc1 = nn.Linear(in_channels, hidden)
        self.fc2 = nn.Linear(hidden, in_channels)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        z = x.mean(axis=[2, 3])
        s = nn.functional.sigmoid(self.fc2(nn.functional.relu(self.fc1(z))))
        return paddle.rand(x.shape)  # MUTANT: random output
