"""Importing the frameworks safely and quietly.

Two problems are handled here, in one place, for every framework subpackage:

1. **Import order.** With ``paddlepaddle==3.3.1`` and ``tensorflow-cpu==2.21.0`` in one
   process, ``import tensorflow`` followed by ``import paddle`` kills the interpreter with a
   segmentation fault (``paddle`` first works).

   Cause (found with gdb): TensorFlow loads ``libtensorflow_framework.so.2``, which exports
   its copy of the protobuf C++ runtime (about 10,800 ``google::protobuf`` symbols) into the
   process's global symbol scope. Paddle's ``libpaddle.so`` and ``libphi_core.so`` carry
   their own, different protobuf; when they are loaded afterwards the dynamic linker binds
   part of their protobuf references to TensorFlow's copy, and Paddle's static initialisers
   (operator registration, ``OpProtoAndCheckerMaker::AddInput``) crash inside
   ``RepeatedPtrFieldBase::AddOutOfLineHelper`` on objects of the other version. Loaded
   first, Paddle binds to its own copy and TensorFlow's later load does not disturb it.

   Handling: :func:`import_tensorflow` imports Paddle first when it is installed and not yet
   imported. If TensorFlow is already loaded when Paddle is needed, :func:`import_paddle`
   loads Paddle's libraries with ``RTLD_DEEPBIND`` (each library resolves symbols in its own
   dependencies first, so Paddle uses its own protobuf), and where that flag does not exist
   it raises a clear :class:`ImportError` instead of letting the interpreter crash. A plain
   ``import tensorflow; import paddle`` outside this package still crashes; nothing in a
   package can intercept that.

   The same trap exists for Triton, which PyTorch's CUDA wheel installs and which
   torchvision, ``torch.compile`` and PyTorch dispatch modes (``FlopCounterMode``) load
   lazily: after TensorFlow or Paddle, ``libtriton.so``'s static initialisers crash (its own
   LLVM bound to the LLVM symbols they export). Triton is therefore loaded before Paddle and
   TensorFlow, and with ``RTLD_DEEPBIND`` after them (:data:`NATIVE_CLASHES`,
   :func:`import_torch`).
2. **Log noise.** TensorFlow and Paddle print banners and C++ log lines at import; the
   environment variables that silence them must be set *before* the import.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings

# setdefault: a user who wants the logs back can set the variables before importing us.
_QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow C++ logs: errors only
    "TF_ENABLE_ONEDNN_OPTS": "0",  # no oneDNN banner; also keeps float32 results reproducible
    "GLOG_minloglevel": "2",  # Paddle's glog: errors only
    "GLOG_v": "0",
    "FLAGS_call_stack_level": "0",
}

# Native libraries that carry their own static copy of something another framework exports
# process-wide: protobuf for Paddle (clashes with TensorFlow's), LLVM for Triton (clashes
# with TensorFlow's and Paddle's; torchvision, torch.compile and PyTorch's dispatch modes
# such as FlopCounterMode load it lazily). Each must be loaded before the libraries listed
# for it, or with RTLD_DEEPBIND after them.
NATIVE_CLASHES = {"triton": ("paddle", "tensorflow"), "paddle": ("tensorflow",)}
NATIVE_BEFORE_TENSORFLOW = ("triton", "paddle")
"""Loaded, in this order, before TensorFlow when installed and not yet loaded."""


def _order_message(name: str) -> str:
    return (
        f"vision_attention: TensorFlow is already imported in this process, and importing "
        f"{name} after TensorFlow crashes the interpreter with a segmentation fault "
        f"(TensorFlow exports its own protobuf and LLVM symbols process-wide), and this "
        f"platform has no RTLD_DEEPBIND to load {name} safely after it. Import "
        f"vision_attention.paddle / vision_attention.torch (or vision_attention.tensorflow, "
        f"which loads them first) before anything imports tensorflow, or run the "
        f"{name} code in a separate process."
    )


IMPORT_ORDER_MESSAGE = _order_message("paddle")
"""The :class:`ImportError` message for Paddle where it cannot be loaded after TensorFlow."""


def quiet_environment() -> None:
    """Set the log-silencing environment variables unless the user set them already."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)


def _import_native(name: str):
    """Import module ``name``; with ``RTLD_DEEPBIND`` if a library it clashes with is loaded.

    Raises:
        ImportError: a library of ``NATIVE_CLASHES[name]`` is loaded, ``name`` is not, and
            the platform has no ``RTLD_DEEPBIND`` (only glibc has it).
    """
    late = name not in sys.modules and any(m in sys.modules for m in NATIVE_CLASHES.get(name, ()))
    if late and not hasattr(os, "RTLD_DEEPBIND"):
        raise ImportError(_order_message(name))
    flags = sys.getdlopenflags()
    if late:
        sys.setdlopenflags(os.RTLD_NOW | os.RTLD_DEEPBIND)
    try:
        return importlib.import_module(name)
    finally:
        sys.setdlopenflags(flags)


def import_torch():
    """Import and return :mod:`torch`, with Triton loaded safely.

    PyTorch itself does not clash with TensorFlow or Paddle, but Triton (loaded lazily by
    torchvision, ``torch.compile`` and dispatch modes such as ``FlopCounterMode``) does;
    loading it here, with ``RTLD_DEEPBIND`` when Paddle or TensorFlow is already loaded,
    makes those later loads safe.
    """
    import torch

    _preload("triton")
    return torch


def _preload(name: str) -> None:
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        _import_native(name)


def import_paddle():
    """Import and return :mod:`paddle`, quietly, avoiding the order that segfaults.

    When TensorFlow is already loaded and Paddle is not, Paddle's shared libraries are
    loaded with ``RTLD_DEEPBIND`` so that they keep their own protobuf (see the module
    docstring).

    Raises:
        ImportError: TensorFlow is already imported and this platform has no
            ``RTLD_DEEPBIND`` (only glibc has it), so Paddle cannot be loaded safely.
    """
    quiet_environment()
    if "paddle" not in sys.modules and "tensorflow" in sys.modules and not hasattr(os, "RTLD_DEEPBIND"):
        raise ImportError(IMPORT_ORDER_MESSAGE)  # before Triton, so the message names Paddle
    _preload("triton")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "No ccache found" from paddle.utils
        paddle = _import_native("paddle")
    # Paddle warns at every first training-mode BatchNorm call that it tracks global stats.
    warnings.filterwarnings(
        "ignore",
        message="When training, we now always track global mean and variance",
        category=UserWarning,
        module=r"paddle\.nn\.layer\.norm",
    )
    paddle.disable_signal_handler()  # leave Ctrl-C and crash reports to Python
    return paddle


def import_tensorflow():
    """Import and return :mod:`tensorflow`, quietly, loading Paddle and Triton first.

    Each library of :data:`NATIVE_BEFORE_TENSORFLOW` that is installed and not yet loaded
    is imported before TensorFlow, which makes a later ``import paddle`` or
    ``import torchvision`` in the same process safe.
    """
    quiet_environment()
    if "tensorflow" not in sys.modules:
        for name in NATIVE_BEFORE_TENSORFLOW:
            if name == "paddle" and "paddle" not in sys.modules and importlib.util.find_spec("paddle"):
                import_paddle()
            else:
                _preload(name)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf
