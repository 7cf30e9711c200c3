"""Exercise 02 (PyTorch): ECA's kernel-size rule and the forward pass of an ECA block."""

import math

import torch
from torch import nn


def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """Kernel size ``k`` of ECA's 1-D convolution, chosen from the channel count ``C``.

    ECA-Net (Wang et al., CVPR 2020), Eq. (12): ``k = | log2(C) / gamma + b / gamma |_odd``.
    Implement it as the official code (``BangguWu/ECANet``) and the paper's listing do:

    1. ``t = int(abs((log2(C) + b) / gamma))`` (base-2 logarithm; ``int`` truncates);
    2. return ``t`` if ``t`` is odd, else ``t + 1``.

    Examples with ``gamma=2, b=1``: ``C=64 -> 3``, ``C=128 -> 5``, ``C=2048 -> 7``.

    Args:
        channels: ``C``, a positive Python int.
        gamma, b: the rule's constants (Python numbers); ``gamma > 0``.

    Returns:
        ``k``, an odd positive Python ``int`` (not a float, not a tensor).
    """
    ### BEGIN SOLUTION
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1
    ### END SOLUTION


class ECA(nn.Module):
    """Efficient Channel Attention (Wang et al., CVPR 2020, Sec. 3.2; kernel size: Eq. (12)).

    Build one ``nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)`` named exactly
    ``conv`` (weight ``(1, 1, k)`` float32), as in the official code (``BangguWu/ECANet``,
    ``models/eca_module.py``). ``k`` is ``kernel_size`` when it is given, otherwise
    ``eca_kernel_size(in_channels, gamma, b)``. The grader loads its weights into ``conv``;
    the block has no other parameter.

    Forward, for ``x`` of shape ``(B, C, H, W)`` float32 (NCHW):

    1. squeeze: ``z = mean of x over H and W``, shape ``(B, C)``;
    2. treat the ``C`` means as a sequence of length ``C`` with one input channel, shape
       ``(B, 1, C)``, and apply ``conv``: one kernel shared by all channels, sliding along the
       channel axis, with ``(k - 1) // 2`` zeros padded at both ends (output ``(B, 1, C)``);
    3. ``s = sigmoid(...)``, reshaped to ``(B, C, 1, 1)``;
    4. scale: return ``x * s`` (``s`` broadcast over ``H`` and ``W``), shape ``(B, C, H, W)``.

    Args:
        in_channels: ``C``.
        gamma, b: constants of the kernel-size rule (see :func:`eca_kernel_size`).
        kernel_size: odd ``k``; ``None`` (default) means "use the rule".
    """

    def __init__(self, in_channels: int, gamma: float = 2, b: float = 1,
                 kernel_size: int | None = None):
        super().__init__()
        ### BEGIN SOLUTION
        k = eca_kernel_size(in_channels, gamma, b) if kernel_size is None else kernel_size
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        z = x.mean(dim=(2, 3))
        s = torch.sigmoid(self.conv(z[:, None, :]))
        return x * s[:, 0, :, None, None]
        ### END SOLUTION
