"""TensorFlow loads quietly wherever the package loads it; Python's own warnings still reach the user."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lmna_scrna.paths import PROJECT_ROOT

#: What TensorFlow's C++ side and absl print on import and on the first device query (no GPU here).
TF_NOISE = ("cudart_stub", "cpu_feature_guard", "cuInit", "absl::", "I0000", "E0000", "W0000", "oneDNN")


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter on this checkout's package, without the Makefile's TF_CPP_MIN_LOG_LEVEL."""
    clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    clean["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT / "lib"), clean.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-W", "always", "-c", code], env=clean | env, capture_output=True, text=True,
                          check=False, timeout=300)


def test_importing_training_prints_no_tensorflow_lines_but_keeps_python_warnings() -> None:
    result = python(
        "import warnings\n"
        "import lmna_scrna.tl.train, lmna_scrna.tl.attribution\n"
        "import tensorflow as tf\n"
        "(tf.constant(1.0) + 1).numpy()\n"
        "warnings.warn('a real warning')\n"
        "import os; from lmna_scrna.threads import budget\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], tf.config.threading.get_inter_op_parallelism_threads(), budget())\n"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [n for n in TF_NOISE if n in result.stderr], result.stderr[-3000:]
    assert "UserWarning: a real warning" in result.stderr
    level, inter_op, budget = result.stdout.split()
    assert level == "2" and inter_op == budget  # the default level, and the thread budget applied before the first op


def test_a_users_log_level_wins() -> None:
    result = python("import lmna_scrna.tl.backend, os; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])",
                    TF_CPP_MIN_LOG_LEVEL="1")
    assert result.returncode == 0 and result.stdout.strip() == "1", result.stderr[-3000:]


def test_held_stderr_drops_tensorflow_lines_and_writes_back_the_rest(capfd: pytest.CaptureFixture[str]) -> None:
    from lmna_scrna.tl.backend import held_stderr

    with held_stderr():
        os.write(2, b"I0000 00:00:1796123120.318328   28339 cudart_stub.cc:31] Could not find cuda drivers\n")
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"E0000 00:00:1796123124.680453   28339 cuda_platform.cc:52] failed call to cuInit\n")
        os.write(2, b"UserWarning: something the user should see\n")
    err = capfd.readouterr().err
    assert err == "UserWarning: something the user should see\n"
