"""Export the course's models and prove the exported artefacts equal to the eager models.

Framework-neutral to import; each exporter imports its framework on first use.

* :mod:`.images` -- the real images every check runs on (evaluation and calibration batches).
* :mod:`.contract` -- :func:`compare_logits`, :func:`check_artefact`, :class:`ArtefactCheck`:
  the whole-network tolerance of :mod:`vision_attention.parity` applied to artefacts.
* :mod:`.onnx` -- PyTorch to ONNX, run with ONNX Runtime; :mod:`.quantize` -- ONNX Runtime INT8
  (static QDQ with calibration on real images, and dynamic).
* :mod:`.litert` -- TensorFlow/Keras to LiteRT (float32, dynamic range, full INT8), run with the
  ``ai-edge-litert`` interpreter.
* :mod:`.paddle_inference` -- Paddle to a static inference model (``paddle.jit.save``), run with
  Paddle Inference's predictor.
* :mod:`.bench` -- latency and peak memory of eager models and runtimes, one subprocess each.
"""

from .contract import (FLOAT_RTOL, ArtefactCheck, ExportParityError, check_artefact, check_at_batch_sizes,
                       compare_logits)
from .images import calibration_images, evaluation_images, to_nhwc

__all__ = ["FLOAT_RTOL", "ArtefactCheck", "ExportParityError", "check_artefact", "check_at_batch_sizes",
           "compare_logits",
           "calibration_images", "evaluation_images", "to_nhwc"]
