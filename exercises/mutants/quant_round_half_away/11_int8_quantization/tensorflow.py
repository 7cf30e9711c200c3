"""MUTANT (rounds half away from zero (C's round): sign(v) * floor(|v| + 0.5)): exercise 11, tensorflow."""

import tensorflow as tf


def fake_quantize(x: tf.Tensor, calibration: tf.Tensor) -> tuple:
    """Quantize ``x`` to uint8 and back (ONNX ``QuantizeLinear`` then ``DequantizeLinear``), with
    the scale and zero point that ONNX Runtime's static quantization gives an activation tensor
    from its calibration values (MinMax calibration, asymmetric uint8, per tensor):

    * ``rmin = min(0, min(calibration))``, ``rmax = max(0, max(calibration))``: the range always
      contains 0, so that 0 (padding, a ReLU's zeros) is exactly representable;
    * ``scale = (rmax - rmin) / 255``, or ``1.0`` when ``rmax == rmin`` (a calibration of zeros);
    * ``zero_point = round(-rmin / scale)``, clipped to [0, 255], an integer;
    * ``q = clip(round(x / scale) + zero_point, 0, 255)``, rounding **half to even** (as
      ``QuantizeLinear`` does: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0); values beyond the range
      saturate at 0 and 255;
    * ``y = (q - zero_point) * scale``.

    ONNX stores the scale as a float32 tensor: compute it from ``rmin`` and ``rmax`` as Python
    floats, then return it rounded to float32 (``float`` of a float32 tensor) and quantize with that
    value. Divide ``x`` by the scale (``x / scale``, in float32), not multiply by ``1 / scale``: the
    two differ at exact ties. Use TensorFlow's own tensor operations (tf.round, ...). Elementwise: any
    shape, no layout.

    Args:
        x: the tensor to quantize, float32, any shape.
        calibration: the values the same tensor took on the calibration set, float32, any shape
            (the grader's are not empty).

    Returns:
        ``(y, scale, zero_point)``: ``y`` float32 with ``x``'s shape (values on the grid
        ``(q - zero_point) * scale``), ``scale`` a Python ``float``, ``zero_point`` a Python ``int``.
    """
    rmin = min(0.0, float(tf.reduce_min(calibration)))
    rmax = max(0.0, float(tf.reduce_max(calibration)))
    scale = (rmax - rmin) / 255.0 if rmax > rmin else 1.0
    zero_point = int(min(255, max(0, round(-rmin / scale))))
    scale = float(tf.constant(scale, tf.float32))  # stored as float32, as ONNX does
    v = x / scale
    q = tf.clip_by_value(tf.sign(v) * tf.floor(tf.abs(v) + 0.5) + zero_point, 0.0, 255.0)
    y = (q - zero_point) * scale
    return y, scale, zero_point
