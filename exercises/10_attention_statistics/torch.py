"""Exercise 10 (PyTorch): summary statistics of an attention tensor, for monitoring attention maps."""

import math

import torch


def attention_statistics(weights: torch.Tensor, spatial: bool) -> dict:
    """Six statistics of one attention tensor ``a`` with values in [0, 1] (the course's
    ``monitor.attention_statistics``, which the practice chapter logs during
    training to see whether attention saturates or collapses onto a few positions):

    * ``mean``: the mean of all values;
    * ``std``: their **population** standard deviation (divide by ``n``, ``ddof=0``);
    * ``low``: the fraction of values strictly below 0.05; ``high``: strictly above 0.95;
    * ``saturated``: ``low + high``;
    * ``entropy``: only when ``spatial`` is true, for a batch of spatial maps ``(B, 1, H, W)``
      (NCHW, ``H * W > 1``): for each map ``p = a / sum(a)`` over its ``H * W`` positions,
      ``-sum(p * ln p) / ln(H * W)`` (``0 * ln 0 = 0``), normalised to [0, 1] (1: uniform, 0: all
      the mass on one position), then the mean over the ``B`` maps. When ``spatial`` is false
      (e.g. channel weights ``(B, C, 1, 1)``) the entropy is ``float("nan")``.

    Use PyTorch's own tensor operations. The grader gives float32 tensors whose maps never sum
    to 0 (no need to check the input here).

    Args:
        weights: a float32 tensor, ``(B, 1, H, W)`` spatial maps or ``(B, C, 1, 1)`` channel
            weights (NCHW).
        spatial: whether ``weights`` is a batch of spatial maps (then the entropy is computed).

    Returns:
        ``{"mean", "std", "low", "high", "saturated", "entropy"}``, each a Python ``float``.
    """
    ### BEGIN SOLUTION
    a = weights
    low = (a < 0.05).float().mean().item()
    high = (a > 0.95).float().mean().item()
    entropy = float("nan")
    if spatial:
        p = a.flatten(1) / a.flatten(1).sum(dim=1, keepdim=True)  # (B, H*W)
        terms = torch.where(p > 0, p * torch.log(torch.where(p > 0, p, torch.ones_like(p))), torch.zeros_like(p))
        entropy = (-terms.sum(dim=1) / math.log(p.shape[1])).mean().item()
    return {"mean": a.mean().item(), "std": a.std(correction=0).item(), "low": low, "high": high,
            "saturated": low + high, "entropy": entropy}
    ### END SOLUTION
