"""Import behaviour, each case in a fresh interpreter.

* ``import tensorflow`` then ``import paddle`` segfaults (paddlepaddle 3.3.1 with
  tensorflow-cpu 2.21.0). The package must never let that happen silently: its own imports
  are ordered (Paddle first), Paddle after a user's TensorFlow is loaded with
  ``RTLD_DEEPBIND``, and where that is impossible a clear ImportError replaces the crash.
* ``import vision_attention`` (and ``vision_attention.parity``) imports no framework and
  is fast.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import textwrap

import pytest

from vision_attention._frameworks import IMPORT_ORDER_MESSAGE

# The ImportError's message, raised before anything is loaded.
ORDER_ERROR = "ImportError: " + re.escape(IMPORT_ORDER_MESSAGE)
FRAMEWORK_MODULES = ("torch", "paddle", "tensorflow", "keras", "jax")

SCRIPTS = {
    # A user imports TensorFlow first, then our Paddle code: loaded with RTLD_DEEPBIND, works;
    # then our PyTorch code and torchvision (Triton, likewise loaded with RTLD_DEEPBIND).
    "user_tensorflow_then_package_paddle_then_torch": """
        import tensorflow
        import vision_attention.paddle as vp
        import paddle
        y = vp.SEBlock(16, 4)(paddle.ones([1, 16, 3, 3]))
        print("ok", list(y.shape), float(y.sum()) > 0, flush=True)
        import vision_attention.torch
        import torchvision
        print("torchvision ok", flush=True)
    """,
    # The same on a platform without RTLD_DEEPBIND (musl, macOS): a clear ImportError, no crash.
    # The guard looks at sys.modules, so a stand-in "tensorflow" module triggers it without
    # paying for the real import (which the two scripts around this one do).
    "user_tensorflow_then_package_paddle_without_deepbind": """
        import os, sys, types
        del os.RTLD_DEEPBIND
        sys.modules["tensorflow"] = types.ModuleType("tensorflow")
        try:
            import vision_attention.paddle
        except ImportError:
            print("paddle loaded:", "paddle" in sys.modules)
            raise
    """,
    # Our TensorFlow code first: it imports Paddle before TensorFlow, so Paddle later is safe;
    # then torchvision (which loads Triton: Triton after TensorFlow segfaults too).
    "package_tensorflow_then_paddle_then_torchvision": """
        import sys
        import vision_attention.tensorflow
        import vision_attention.paddle
        import paddle
        order = list(sys.modules)
        print("ok", order.index("paddle") < order.index("tensorflow"), flush=True)
        import torchvision
        print("torchvision ok", flush=True)
    """,
    # A user imports Paddle first, then our PyTorch code counts FLOPs: FlopCounterMode loads
    # Triton lazily, and Triton after Paddle segfaults unless loaded with RTLD_DEEPBIND.
    "user_paddle_then_flop_counter": """
        import paddle
        import vision_attention.torch as vt
        from vision_attention.profiling import count_flops
        print("macs", count_flops(vt.SEBlock(64, 16), (1, 64, 8, 8))["macs"], flush=True)
    """,
}


def _python(code: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        **kwargs,
    )


@pytest.fixture(scope="module")
def runs():
    """Run every script of :data:`SCRIPTS` in its own interpreter, all at once (two of them
    import TensorFlow, about 15 s of CPU each), and wait for all of them.

    Not run as a test, to save a third TensorFlow import: the crash itself
    (``python -c "import tensorflow; import paddle"`` exits with SIGSEGV, rc -11)."""
    processes = {name: _python(code) for name, code in SCRIPTS.items()}
    results = {}
    try:
        for name, process in processes.items():
            stdout, stderr = process.communicate(timeout=300)
            results[name] = (process.returncode, stdout, stderr)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


def test_package_paddle_after_user_tensorflow_works(runs):
    rc, stdout, stderr = runs["user_tensorflow_then_package_paddle_then_torch"]
    assert stdout.startswith("ok [1, 16, 3, 3] True\n"), f"rc={rc}\n{stdout}\n{stderr[-3000:]}"


def test_package_torch_then_torchvision_after_user_tensorflow_works(runs):
    rc, stdout, stderr = runs["user_tensorflow_then_package_paddle_then_torch"]
    assert rc == 0 and "torchvision ok" in stdout, f"rc={rc} (-11 is a segfault)\n{stdout}\n{stderr[-3000:]}"


def test_without_deepbind_paddle_after_tensorflow_is_a_clear_import_error(runs):
    rc, stdout, stderr = runs["user_tensorflow_then_package_paddle_without_deepbind"]
    assert rc == 1, f"expected an ordinary exception exit, got {rc}\n{stderr[-3000:]}"
    # The package refuses the first native library it would load after TensorFlow: Paddle,
    # or Triton, which import_paddle loads before Paddle when it is installed.
    assert re.search(ORDER_ERROR, stderr), stderr[-3000:]
    assert "paddle loaded: False" in stdout  # refused before Paddle's libraries were touched


def test_package_tensorflow_imports_paddle_first(runs):
    rc, stdout, stderr = runs["package_tensorflow_then_paddle_then_torchvision"]
    assert stdout.startswith("ok True\n"), f"rc={rc}\n{stdout}\n{stderr[-3000:]}"


def test_torchvision_after_package_tensorflow_does_not_crash(runs):
    """``import tensorflow`` followed by anything that loads Triton (``import torchvision``,
    ``torch.compile``) segfaults in ``libtriton.so``; the package's TensorFlow import must
    prevent it as it prevents the Paddle crash."""
    rc, stdout, stderr = runs["package_tensorflow_then_paddle_then_torchvision"]
    assert rc == 0 and "torchvision ok" in stdout, f"rc={rc} (-11 is a segfault)\n{stdout}\n{stderr[-3000:]}"


def test_flop_counting_after_user_paddle_does_not_crash(runs):
    rc, stdout, stderr = runs["user_paddle_then_flop_counter"]
    # SEBlock(64, 16) on (1, 64, 8, 8): two Linear layers, 64*4 + 4*64 multiply-adds.
    assert rc == 0 and f"macs {64 * 4 + 4 * 64}" in stdout, f"rc={rc} (-11 is a segfault)\n{stdout}\n{stderr[-3000:]}"


MEASURE = """
    import json, sys, time
    start = time.perf_counter()
    import {module}
    seconds = time.perf_counter() - start
    loaded = sorted(m for m in {frameworks!r} + ("pandas",) if m in sys.modules)
    print(json.dumps({{"seconds": seconds, "loaded": loaded}}))
"""


def _measure(module: str, repeats: int) -> tuple[list[float], list[list[str]]]:
    seconds, loaded = [], []
    for _ in range(repeats):  # one after another: concurrent runs would slow each other
        process = _python(MEASURE.format(module=module, frameworks=FRAMEWORK_MODULES))
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        result = json.loads(stdout)
        seconds.append(result["seconds"])
        loaded.append(result["loaded"])
    return seconds, loaded


def test_import_vision_attention_loads_no_framework_and_is_fast():
    seconds, loaded = _measure("vision_attention", repeats=5)
    assert loaded == [[]] * 5, loaded
    assert statistics.median(seconds) < 0.2, seconds


def test_import_vision_attention_parity_loads_no_framework():
    _, loaded = _measure("vision_attention.parity", repeats=1)
    assert loaded == [[]], loaded
