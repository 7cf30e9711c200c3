"""Importing the frameworks safely and quietly.

Two problems are handled here, in one place, for every framework subpackage:

1. **Import order.** With ``paddlepaddle==3.3.1`` and ``tensorflow-cpu==2.21.0`` in one
   process, ``import tensorflow`` followed by ``import paddle`` kills the interpreter with a
   segmentation fault (``paddle`` first works). :func:`import_tensorflow` therefore imports
   Paddle first when it is installed and not yet imported, and :func:`import_paddle` raises a
   clear :class:`ImportError` instead of crashing when TensorFlow is already loaded.
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

IMPORT_ORDER_MESSAGE = (
    "vision_attention.paddle: TensorFlow is already imported in this process, and importing "
    "Paddle after TensorFlow crashes the interpreter with a segmentation fault "
    "(paddlepaddle 3.3.1 with tensorflow-cpu 2.21.0). Import vision_attention.paddle (or "
    "vision_attention.tensorflow, which imports Paddle first) before anything imports "
    "tensorflow, or run the Paddle code in a separate process."
)


def quiet_environment() -> None:
    """Set the log-silencing environment variables unless the user set them already."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)


def import_paddle():
    """Import and return :mod:`paddle`, quietly, refusing the order that segfaults.

    Raises:
        ImportError: if TensorFlow is already imported and Paddle is not.
    """
    if "paddle" not in sys.modules and "tensorflow" in sys.modules:
        raise ImportError(IMPORT_ORDER_MESSAGE)
    quiet_environment()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import paddle
    paddle.disable_signal_handler()  # leave Ctrl-C and crash reports to Python
    return paddle


def import_tensorflow():
    """Import and return :mod:`tensorflow`, quietly, importing Paddle first if installed.

    Importing Paddle first (when it is installed and not yet loaded) makes a later
    ``import paddle`` in the same process safe.
    """
    quiet_environment()
    if "tensorflow" not in sys.modules and "paddle" not in sys.modules:
        if importlib.util.find_spec("paddle") is not None:
            import_paddle()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf
