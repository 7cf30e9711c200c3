"""Exercise 04 (TensorFlow / Keras 3): PyTorch weights in Keras's names and layouts."""

import numpy as np


def convert_weights(canonical: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The canonical (PyTorch) weights of a small network, renamed and laid out for Keras 3.

    The network (the grader builds it; you only convert its weights) takes NHWC input:
    ``conv`` = ``keras.layers.Conv2D(C_out, k, padding="same")`` with bias, ``bn`` =
    ``keras.layers.BatchNormalization(epsilon=1e-5)`` (inference mode: it uses the moving
    statistics), ReLU, the mean over H and W, then ``fc`` = ``keras.layers.Dense(n)``.
    The grader assigns your result to the layers' variables, ``"<layer>.<variable>"`` name by
    name, *without* any conversion, so every name and shape must be Keras's own.

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

    =========================  =============================  ====================
    key                        shape                          from
    =========================  =============================  ====================
    ``conv.kernel``            ``(k, k, C_in, C_out)``        ``conv.weight``,
                               (kH, kW, I, O)                 axes permuted
    ``conv.bias``              ``(C_out,)``                   ``conv.bias``
    ``bn.gamma``               ``(C_out,)``                   ``bn.weight``
    ``bn.beta``                ``(C_out,)``                   ``bn.bias``
    ``bn.moving_mean``         ``(C_out,)``                   ``bn.running_mean``
    ``bn.moving_variance``     ``(C_out,)``                   ``bn.running_var``
    ``fc.kernel``              ``(C_out, n)`` (in, out)       ``fc.weight``, transposed
    ``fc.bias``                ``(n,)``                       ``fc.bias``
    =========================  =============================  ====================

    ``conv.kernel[i, j, c, o]`` must equal ``conv.weight[o, c, i, j]``: permute the axes
    (a reshape gives the right shape but the wrong values). Do not modify the arrays of
    ``canonical`` in place.

    Args:
        canonical: ``{name: float32 array}`` as in the first table.

    Returns:
        ``{name: float32 array}`` in Keras's names and layouts (the second table).
    """
    c = {name: np.asarray(array, dtype=np.float32) for name, array in canonical.items()}
    out = {
        "conv.kernel": c["conv.weight"].transpose(2, 3, 1, 0),
        "conv.bias": c["conv.bias"],
        "bn.gamma": c["bn.weight"],
        "bn.beta": c["bn.bias"],
        "bn.moving_mean": c["bn.running_var"],
        "bn.moving_variance": c["bn.running_mean"],
        "fc.kernel": c["fc.weight"].T,
        "fc.bias": c["fc.bias"],
    }
    return {name: np.ascontiguousarray(array) for name, array in out.items()}
