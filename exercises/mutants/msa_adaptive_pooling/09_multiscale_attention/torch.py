"""Exercise 09 (PyTorch): the forward pass of the IQA fusion note's multi-scale attention fusion."""

import torch
from torch import nn


class MultiScaleAttention(nn.Module):
    """Attention-weighted multi-scale fusion, as the IQA fusion note defines it: ``S`` stage
    maps of a backbone (finest first, e.g. Swin-T's four stages) are pooled to one size, weighted
    by a softmax that the last stage's content decides, and concatenated. The note's setting is
    HyperIQA (Su et al., "Blindly Assess Image Quality in the Wild Guided by a Self-Adaptive
    Hyper Network", CVPR 2020); this module is the note's, not part of HyperIQA::

        p_i = avgpool(f_i)                      (B, C_i, p, p), window (H_i / p) x (W_i / p)
        w   = softmax(attention_net(GAP(p_{S-1})))   (B, S), each row sums to 1
        y   = concat_i(w[:, i] * p_i)            (B, C_0 + ... + C_{S-1}, p, p)

    The constructor is written for you; the grader loads its weights into this attribute (keep
    its name):

    * ``attention_net``: ``nn.Sequential(nn.Linear(C_last, hidden), nn.ReLU(),
      nn.Dropout(dropout), nn.Linear(hidden, S))`` with ``C_last = in_channels[-1]``:
      ``attention_net.0`` with weight ``(hidden, C_last)`` and bias ``(hidden,)``,
      ``attention_net.3`` with weight ``(S, hidden)`` and bias ``(S,)``; indices 1 and 2 (ReLU,
      Dropout) hold no weights.

    The grader calls the module in inference mode (``.eval()``), where the Dropout passes its
    input through unchanged.

    Forward, for ``features``, a list of ``S`` float32 tensors (NCHW), ``features[i]`` of shape
    ``(B, in_channels[i], H_i, W_i)`` with ``H_i`` and ``W_i`` multiples of ``pool_size``
    (``p``); maps may be non-square, and a map may already be ``p x p``:

    1. average-pool every stage to ``p x p``: non-overlapping windows of ``(H_i / p) x (W_i / p)``
       positions (a map already ``p x p`` stays as it is);
    2. ``g = `` the global average over height and width of the last (coarsest) pooled stage,
       shape ``(B, C_last)``;
    3. ``w = softmax(attention_net(g))`` over the ``S`` stages: shape ``(B, S)``, one weight per
       image and stage, each image's weights summing to 1;
    4. ``y``: the pooled stages in stage order (finest first), each multiplied by its image's
       weight ``w[b, i]`` (broadcast over channels and positions), concatenated along the
       channels: shape ``(B, sum(in_channels), p, p)``.

    With ``return_attention=True`` return the pair ``(y, {"scale_weights": w})``; otherwise
    ``y`` alone.

    Args:
        in_channels: channels of each stage, finest first (a list of ``S`` ints).
        hidden: width of the MLP's hidden layer.
        dropout: dropout probability after the ReLU (inactive in inference mode).
        pool_size: side ``p`` of the pooled maps.
    """

    def __init__(self, in_channels, hidden: int = 256, dropout: float = 0.1, pool_size: int = 7):
        super().__init__()
        self.in_channels = tuple(int(c) for c in in_channels)
        self.hidden, self.dropout, self.pool_size = int(hidden), float(dropout), int(pool_size)
        self.attention_net = nn.Sequential(
            nn.Linear(self.in_channels[-1], self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden, len(self.in_channels)),
        )

    def forward(self, features, return_attention: bool = False):
        p = self.pool_size
        pooled = [nn.functional.adaptive_avg_pool2d(f, p) for f in features]  # same when p divides H and W
        w = torch.softmax(self.attention_net(pooled[-1].mean(dim=(2, 3))), dim=1)  # (B, S)
        y = torch.cat([f * w[:, i, None, None, None] for i, f in enumerate(pooled)], dim=1)
        return (y, {"scale_weights": w}) if return_attention else y
