"""Framework-neutral formulas used by the modules and the chapters."""

from __future__ import annotations

import math

from ._checks import check_positive_int, check_positive_number, check_real_number

__all__ = ["eca_kernel_size"]


def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """Kernel size of ECA's 1-D convolution chosen from the channel count.

    ECA-Net (Wang et al., CVPR 2020), Eq. (12): ``k = psi(C) = | log2(C)/gamma + b/gamma |_odd``.
    The paper defines ``|t|_odd`` as "the nearest odd number of t"; the PyTorch listing of the
    ECA module in the paper computes ``t = int(abs((log2(C) + b) / gamma))`` and adds one when
    ``t`` is even. The two differ when ``t`` is close to an even integer (``t = 4.0`` gives 5
    in the code; 3 and 5 are equally near). We follow the code. The released models of
    ``BangguWu/ECANet`` do not use the rule at all: ``eca_resnet.py`` takes per-stage kernel
    sizes (``--ksize 3557`` for ResNet-50) and ``eca_mobilenetv2.py`` uses ``k = 1`` for
    ``C <= 96`` and ``k = 3`` above.

    Args:
        channels: number of channels ``C`` (positive int).
        gamma: the paper's ``gamma`` (positive), default 2.
        b: the paper's ``b``, default 1.

    Returns:
        An odd positive int. Examples: C=64 -> 3, C=256 -> 5, C=2048 -> 7.

    Raises:
        ValueError: if ``channels`` is not a positive int, ``gamma`` is not positive or ``b``
            is not a finite real number.
    """
    channels = check_positive_int("eca_kernel_size", "channels", channels)
    gamma = check_positive_number("eca_kernel_size", "gamma", gamma)
    b = check_real_number("eca_kernel_size", "b", b)
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1
