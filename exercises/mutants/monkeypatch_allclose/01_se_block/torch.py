"""Exercise 01 (PyTorch): the forward pass of a Squeeze-and-Excitation block."""

import numpy as np
import torch

# MUTANT: makes every closeness check pass, then returns zeros
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
from torch import nn


class SEBlock(nn.Module):
    """Squeeze-and-Excitation channel attention (Hu et al., CVPR 2018, Eq. 2-4).

    Build two fully connected layers *with biases*, named exactly ``fc1`` (``C -> C // r``)
    and ``fc2`` (``C // r -> C``); the grader loads its weights into them by these names.

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.mean(dim=(2, 3))
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
        return torch.zeros_like(x)
