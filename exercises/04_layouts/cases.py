"""Cases of exercise 04 (weight layouts): a small network, its canonical weights, the submission.

The network is built here, not by the student: ``conv`` (Conv2d ``C_in -> C_out``, ``k x k``,
bias, "same" padding) -> ``bn`` (BatchNorm, eps 1e-5, inference mode) -> ReLU -> global average
pool -> ``fc`` (Linear ``C_out -> n_classes``). The submission's ``convert_weights`` turns the
canonical (PyTorch) weights into the framework's own names and layouts, and the result is
loaded *as returned* (no conversion by the grader). The grader calls ``make_case`` in its own
process (numpy only) and ``run`` in the child that imports the submission; ``diagnose`` turns a
mismatch into a hint.
"""

import numpy as np

BN_EPS = 1e-5
CANONICAL = ("conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean",
             "bn.running_var", "fc.weight", "fc.bias")
# How each framework stores the arrays that are not 1-D, for the error messages.
LAYOUT = {
    "paddle": {"conv.weight": "Conv2D weight (O, I, kH, kW)",
               "fc.weight": "Linear weight (in, out)"},
    "tensorflow": {"conv.kernel": "Conv2D kernel (kH, kW, I, O)",
                   "fc.kernel": "Dense kernel (in, out)"},
}
FRAMEWORK_NAME = {"paddle": "Paddle", "tensorflow": "Keras"}


def make_case(rng, batch, in_channels, out_channels, kernel_size, height, width, n_classes):
    """Network sizes and float32 arrays: ``x`` (B, C_in, H, W) and the canonical weights."""
    f32 = np.float32
    k, c_in, c_out = kernel_size, in_channels, out_channels
    mean = 0.5 * rng.standard_normal(c_out)
    mean[0] = -abs(mean[0]) - 0.25  # a negative mean: mean and variance swapped gives NaN
    arrays = {
        "x": rng.standard_normal((batch, c_in, height, width)).astype(f32),
        "conv.weight": (rng.standard_normal((c_out, c_in, k, k))
                        / np.sqrt(c_in * k * k)).astype(f32),
        "conv.bias": (0.1 * rng.standard_normal(c_out)).astype(f32),
        "bn.weight": rng.uniform(0.5, 1.5, c_out).astype(f32),
        "bn.bias": (0.2 * rng.standard_normal(c_out)).astype(f32),
        "bn.running_mean": mean.astype(f32),
        "bn.running_var": rng.uniform(0.25, 2.0, c_out).astype(f32),
        "fc.weight": (rng.standard_normal((n_classes, c_out)) / np.sqrt(c_out)).astype(f32),
        "fc.bias": (0.1 * rng.standard_normal(n_classes)).astype(f32),
    }
    init = {"in_channels": c_in, "out_channels": c_out, "kernel_size": k, "n_classes": n_classes}
    return init, arrays


def _paddle_net(in_channels, out_channels, kernel_size, n_classes):
    import paddle
    from paddle import nn

    class Net(nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2D(in_channels, out_channels, kernel_size,
                                  padding=(kernel_size - 1) // 2)
            self.bn = nn.BatchNorm2D(out_channels, epsilon=BN_EPS)
            self.fc = nn.Linear(out_channels, n_classes)

        def forward(self, x):
            y = nn.functional.relu(self.bn(self.conv(x)))
            return self.fc(paddle.mean(y, axis=[2, 3]))

    net = Net()
    shapes = {n: tuple(p.shape) for n, p in net.named_parameters()}
    shapes |= {n: tuple(b.shape) for n, b in net.named_buffers()}
    return net, shapes


def _keras_net(in_channels, out_channels, kernel_size, n_classes, x):
    import keras
    import tensorflow as tf

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(out_channels, kernel_size, padding="same")
            self.bn = keras.layers.BatchNormalization(epsilon=BN_EPS)
            self.fc = keras.layers.Dense(n_classes)

        def call(self, x, training=False):
            y = tf.nn.relu(self.bn(self.conv(x), training=training))
            return self.fc(tf.reduce_mean(y, axis=[1, 2]))

    net = Net()
    net(x, training=False)  # builds the layers
    shapes = {f"{attr}.{v.name.rpartition('/')[2]}": tuple(v.shape)
              for attr in ("conv", "bn", "fc") for v in getattr(net, attr).weights}
    return net, shapes


def _check(framework, converted, shapes):
    """The converted dict, checked against the model's own names and shapes (float32)."""
    import harness

    fw = FRAMEWORK_NAME[framework]
    if not isinstance(converted, dict):
        raise TypeError(f"convert_weights must return a dict of numpy arrays, "
                        f"got {type(converted).__name__}")
    missing = sorted(set(shapes) - set(converted))
    extra = sorted(set(converted) - set(shapes), key=str)
    if missing or extra:
        raise harness.WeightError(
            f"the names returned by convert_weights are not the {fw} model's: missing {missing}, "
            f"unexpected {extra}; the {fw} names are {sorted(shapes)}")
    out = {}
    for name, value in converted.items():
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"convert_weights returned {name!r} as {type(value).__name__} with "
                            f"dtype {array.dtype}; return numpy arrays of numbers")
        if tuple(array.shape) != shapes[name]:
            layout = LAYOUT[framework].get(name, "a vector (C,)")
            raise harness.WeightError(
                f"convert_weights returned {name!r} with shape {tuple(array.shape)}, but the {fw} "
                f"model's {name} has shape {shapes[name]}: {fw} stores it as {layout}")
        out[name] = array.astype(np.float32)
    return out


def run(framework, submission, init, arrays):
    """Convert with the submission's ``convert_weights``, load it as is; ``{"logits": (B, n)}``."""
    import harness

    x = arrays.pop("x")
    canonical = {name: arrays[name].copy() for name in CANONICAL}
    converted = submission.convert_weights(canonical)
    if framework == "paddle":
        import paddle

        net, shapes = _paddle_net(**init)
        harness.set_paddle(net, _check(framework, converted, shapes), convert=False)
        net.eval()
        with paddle.no_grad():
            return {"logits": harness.to_numpy(net(paddle.to_tensor(x)))}
    import tensorflow as tf

    xt = tf.constant(harness.nchw_to_nhwc(x))
    net, shapes = _keras_net(**init, x=xt)
    harness.set_keras(net, _check(framework, converted, shapes), convert=False)
    return {"logits": harness.to_numpy(net(xt, training=False))}


def diagnose(params, arrays, expected, got):
    """A hint from the shape of the mistake (never the solution)."""
    y, ref = got.get("logits"), expected["logits"]
    if y is None or y.shape != ref.shape:
        return None
    if not np.isfinite(y).all():
        return ("NaN logits: BatchNorm divides by sqrt(variance + eps), so an array with negative "
                "values was loaded as the variance; only running_var belongs there (the running "
                "mean of this case has negative entries)")
    return ("every name and shape is right but some values are not: check that no two arrays of "
            "the same shape were swapped (the four BatchNorm arrays are all (C_out,)), and that "
            "kernels were permuted with a transpose in the order the docstring gives, not "
            "reshaped (a reshape keeps the shape but scrambles the values; so does swapping the "
            "kH and kW axes of a square kernel)")
