"""Exercise 05 (PaddlePaddle): SimAM, a parameter-free attention module."""

import paddle
from paddle import nn


class SimAM(nn.Layer):
    """SimAM attention (Yang, Zhang, Li and Xie, "SimAM: A Simple, Parameter-Free Attention
    Module for Convolutional Neural Networks", ICML 2021, PMLR 139:11863-11874; official code
    github.com/ZjjConan/SimAM, ``simam_module.py``).

    SimAM has no weights: it gives every element of ``x`` its own weight in ``(0, 1)`` from the
    closed-form minimal energy of the paper (``e_lambda`` is its coefficient lambda, Eq. 5).

    Forward, for ``x`` of shape ``(B, C, H, W)`` float32 (NCHW), ``H * W >= 2``; every
    statistic is taken per image and per channel, over H and W only (kept as ``(B, C, 1, 1)``
    so that it broadcasts):

    1. ``n = H * W - 1`` (a number, not learned);
    2. ``d = (x - mu) ** 2`` with ``mu`` the mean of ``x`` over H and W; ``d`` is ``(B, C, H, W)``;
    3. ``v = (sum of d over H and W) / n``, shape ``(B, C, 1, 1)`` (note: ``n``, not ``H * W``);
    4. ``e_inv = d / (4 * (v + e_lambda)) + 0.5``, shape ``(B, C, H, W)`` (the inverse energy;
       ``e_lambda`` keeps it finite where a channel is constant, so that ``v = 0``);
    5. return ``x * sigmoid(e_inv)``, shape ``(B, C, H, W)``, float32.

    Args:
        e_lambda: the coefficient lambda (a float > 0), stored as ``self.e_lambda``.
    """

    def __init__(self, e_lambda: float = 1e-4):
        super().__init__()
        self.e_lambda = e_lambda

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        ### BEGIN SOLUTION
        n = x.shape[2] * x.shape[3] - 1
        d = (x - x.mean(axis=[2, 3], keepdim=True)).pow(2)
        v = d.sum(axis=[2, 3], keepdim=True) / n
        e_inv = d / (4 * (v + self.e_lambda)) + 0.5
        return x * nn.functional.sigmoid(e_inv)
        ### END SOLUTION
