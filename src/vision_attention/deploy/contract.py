"""The parity contract for exported artefacts: an exported model must give the eager model's
logits on real images, within the whole-network tolerance of :mod:`vision_attention.parity`.

:func:`compare_logits` measures, :func:`check_artefact` measures and raises. A float32 artefact
(ONNX Runtime, LiteRT float32, Paddle Inference) is held to
:data:`vision_attention.parity.RESNET_RTOL` (``max |a - b| / max |a| <= 1e-4``) and must agree on
every top-1 class; a quantized artefact (INT8, dynamic range) cannot meet that and is only
measured (:func:`compare_logits`), never "checked".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

__all__ = ["ArtefactCheck", "ExportParityError", "compare_logits", "check_artefact", "check_at_batch_sizes",
           "FLOAT_RTOL"]

FLOAT_RTOL = 1e-4
"""Tolerance of a float32 artefact: ``max |a - b| / max |a|`` of the logits, the value of
:data:`vision_attention.parity.RESNET_RTOL` (repeated here so importing this module imports no
framework; ``tests/test_deploy_contract.py`` checks that the two agree)."""


class ExportParityError(AssertionError):
    """An exported artefact's outputs differ from the eager model's beyond the contract."""


@dataclass(frozen=True)
class ArtefactCheck:
    """What :func:`compare_logits` measured for one artefact against its reference.

    Attributes:
        artefact: a name for the artefact (e.g. ``"ONNX Runtime"`` or a file name).
        reference: what it was compared with (e.g. ``"eager PyTorch"``).
        batch: the batch sizes it ran at (a tuple of ints).
        images: number of images compared.
        max_abs_diff: ``max |a - b|`` over all logits.
        rel_diff: ``max |a - b| / max |b|`` (``b`` the reference).
        top1_agreement: fraction of images with the same top-1 class, in [0, 1].
        tolerance: the ``rel_diff`` limit the check applied, or ``None`` when only measured.
    """

    artefact: str
    reference: str
    batch: tuple
    images: int
    max_abs_diff: float
    rel_diff: float
    top1_agreement: float
    tolerance: float | None = None

    @property
    def passed(self) -> bool | None:
        """``True``/``False`` against :attr:`tolerance` (and full top-1 agreement); ``None`` when
        only measured."""
        if self.tolerance is None:
            return None
        return self.rel_diff <= self.tolerance and self.top1_agreement == 1.0

    def __str__(self) -> str:
        verdict = {None: "measured", True: "passed", False: "FAILED"}[self.passed]
        limit = "" if self.tolerance is None else f" (limit {self.tolerance:.0e})"
        return (f"{self.artefact} vs {self.reference}, {self.images} images at batch "
                f"{', '.join(map(str, self.batch))}: max |a - b| = {self.max_abs_diff:.1e}, relative "
                f"{self.rel_diff:.1e}{limit}, top-1 agreement {self.top1_agreement:.3f}: {verdict}")

    def as_row(self) -> dict:
        """The fields and :attr:`passed` as a dict (one row of a pandas table)."""
        row = asdict(self)
        row["batch"] = ", ".join(str(b) for b in self.batch)
        row["passed"] = self.passed
        return row


def _as_logits(name: str, value) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] < 2 or not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"compare_logits: argument '{name}' expected float logits of shape (N, K) with N >= 1 "
                         f"and K >= 2, got shape {a.shape} and dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"compare_logits: argument '{name}' has non-finite values")
    return a.astype(np.float64)


def compare_logits(logits, reference, *, artefact: str, reference_name: str, batch=(1,),
                   tolerance: float | None = None) -> ArtefactCheck:
    """Measure an artefact's logits against the reference logits on the same images.

    Args:
        logits: ``(N, K)`` float logits of the artefact.
        reference: ``(N, K)`` float logits of the reference (eager model, or the float32 model
            for a quantized artefact).
        artefact, reference_name: names for the table.
        batch: the batch sizes the artefact ran at (recorded, not used).
        tolerance: recorded in the result (see :attr:`ArtefactCheck.passed`).

    Returns:
        An :class:`ArtefactCheck`.

    Raises:
        ValueError: ``logits`` or ``reference`` not finite float ``(N, K)`` arrays, or of
            different shapes.
    """
    a, b = _as_logits("logits", logits), _as_logits("reference", reference)
    if a.shape != b.shape:
        raise ValueError(f"compare_logits: arguments 'logits' and 'reference' expected the same shape, got "
                         f"{a.shape} and {b.shape}")
    diff = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(b)))
    return ArtefactCheck(
        artefact=artefact, reference=reference_name, batch=tuple(int(s) for s in batch), images=int(a.shape[0]),
        max_abs_diff=diff, rel_diff=diff / scale if scale > 0 else diff,
        top1_agreement=float(np.mean(a.argmax(1) == b.argmax(1))), tolerance=tolerance)


def check_artefact(logits, reference, *, artefact: str, reference_name: str, batch=(1,),
                   tolerance: float = FLOAT_RTOL) -> ArtefactCheck:
    """:func:`compare_logits`, then raise unless ``rel_diff <= tolerance`` and every top-1 agrees.

    Raises:
        ExportParityError: the contract is not met (the message gives both figures).
        ValueError: as :func:`compare_logits`, or ``tolerance`` not a positive number.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance > 0:
        raise ValueError(f"check_artefact: argument 'tolerance' expected a positive number, got {tolerance!r}")
    result = compare_logits(logits, reference, artefact=artefact, reference_name=reference_name, batch=batch,
                            tolerance=float(tolerance))
    if not result.passed:
        raise ExportParityError(
            f"{artefact} does not match {reference_name}: max |a - b| / max |b| = {result.rel_diff:.3g} "
            f"(limit {tolerance:g}), top-1 agreement {result.top1_agreement:.3f} (must be 1) on "
            f"{result.images} images at batch {result.batch}")
    return result


def check_at_batch_sizes(run, reference, batch_sizes, *, artefact: str, reference_name: str,
                         tolerance: float = FLOAT_RTOL) -> ArtefactCheck:
    """:func:`check_artefact` of ``run(batch_size)`` at every batch size; the worst figures.

    Args:
        run: ``callable(batch_size) -> (N, K) logits`` (the artefact run on the images in chunks
            of ``batch_size``).
        reference: ``(N, K)`` logits of the eager model on the same images.
        batch_sizes: the batch sizes to run, e.g. ``(1, 8)``.
        artefact, reference_name, tolerance: as in :func:`check_artefact`.

    Returns:
        One :class:`ArtefactCheck` with ``batch = batch_sizes``, the largest differences and the
        lowest top-1 agreement over the batch sizes.

    Raises:
        ExportParityError: the contract fails at some batch size (the first such is raised).
    """
    checks = [check_artefact(run(b), reference, artefact=artefact, reference_name=reference_name,
                             batch=(b,), tolerance=tolerance) for b in batch_sizes]
    return replace(checks[0], batch=tuple(batch_sizes), max_abs_diff=max(c.max_abs_diff for c in checks),
                   rel_diff=max(c.rel_diff for c in checks),
                   top1_agreement=min(c.top1_agreement for c in checks))
