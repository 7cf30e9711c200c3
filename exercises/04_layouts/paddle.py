"""Exercise 04 (PaddlePaddle): PyTorch weights in Paddle's names and layouts."""

import numpy as np


def convert_weights(canonical: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The canonical (PyTorch) weights of a small network, renamed and laid out for Paddle.

    The network (the grader builds it; you only convert its weights): ``conv`` =
    ``paddle.nn.Conv2D(C_in, C_out, k, padding=(k - 1) // 2)`` with bias, ``bn`` =
    ``paddle.nn.BatchNorm2D(C_out, epsilon=1e-5)`` (inference mode: it uses the running
    statistics), ReLU, the mean over H and W, then ``fc`` = ``paddle.nn.Linear(C_out, n)``.
    The grader loads your result with ``set_value``, name by name, *without* any conversion,
    so every name and shape must be Paddle's own.

    ``canonical`` holds eight float32 numpy arrays, named and laid out as in PyTorch's
    ``state_dict()`` (the course's canonical weight format, whose layout table is in the
    course package's ``parity/layouts.py``; see the book's preface, "The parity contract"):

    ===================  ======================================
    key                  shape
    ===================  ======================================
    ``conv.weight``      ``(C_out, C_in, k, k)``  (O, I, kH, kW)
    ``conv.bias``        ``(C_out,)``
    ``bn.weight``        ``(C_out,)``  (the scale, gamma)
    ``bn.bias``          ``(C_out,)``  (the shift, beta)
    ``bn.running_mean``  ``(C_out,)``
    ``bn.running_var``   ``(C_out,)``
    ``fc.weight``        ``(n, C_out)``  (out, in)
    ``fc.bias``          ``(n,)``
    ===================  ======================================

    Return a new dict with exactly these eight keys, float32 numpy arrays:

    * ``conv.weight`` ``(C_out, C_in, k, k)`` and ``conv.bias``: unchanged (Paddle's
      ``Conv2D`` uses PyTorch's layout);
    * ``bn.weight``, ``bn.bias``: unchanged;
    * ``bn._mean``: the running mean, ``bn._variance``: the running variance (Paddle's names
      for BatchNorm statistics);
    * ``fc.weight`` ``(C_out, n)``: Paddle's ``Linear`` stores ``(in, out)``, the transpose of
      PyTorch's ``(out, in)``; ``fc.bias`` ``(n,)`` unchanged.

    Do not modify the arrays of ``canonical`` in place.

    Args:
        canonical: ``{name: float32 array}`` as in the table above.

    Returns:
        ``{name: float32 array}`` in Paddle's names and layouts.
    """
    ### BEGIN SOLUTION
    renamed = {"bn.running_mean": "bn._mean", "bn.running_var": "bn._variance"}
    out = {}
    for name, array in canonical.items():
        array = np.asarray(array, dtype=np.float32)
        if name == "fc.weight":
            array = array.T
        out[renamed.get(name, name)] = np.ascontiguousarray(array)
    return out
    ### END SOLUTION
