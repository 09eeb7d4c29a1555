"""TensorFlow and Keras, imported once and quietly: every module of the package takes them from here.

Loading TensorFlow writes C++ log lines (``cudart_stub``, ``cpu_feature_guard``,
oneDNN, absl's "before absl::InitializeLog" notice) straight to file
descriptor 2, and its first device query adds ``E0000 … cuInit`` on a machine
without a GPU. A terminal shows them; so does a notebook opened in a user's own
Jupyter, whose kernel copies that descriptor into the cell's output. The
Makefile's ``TF_CPP_MIN_LOG_LEVEL`` reaches neither, and TensorFlow 2.21 logs
those lines before it reads the variable anyway. So, before TensorFlow is
imported, this module

- sets ``TF_CPP_MIN_LOG_LEVEL=2`` with ``setdefault`` (a user's own value wins;
  ``0`` turns everything below off and shows TensorFlow's lines as they come)
  and absl's stderr threshold to errors;
- holds descriptor 2 in a temporary file while TensorFlow and Keras load, the
  thread budget is applied (`threads.limit_tensorflow`) and the devices are
  initialised, then writes back every held line that is not one of
  TensorFlow's C++ log lines (`CPP_LOG_LINE`): Python warnings printed meanwhile
  still reach the user. The dropped lines go to this module's logger at DEBUG.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from .. import threads

log = logging.getLogger(__name__)

LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
#: A line of TensorFlow's C++ logging (glog/absl format, e.g. ``I0000 00:00:17.3   28339 port.cc:153] …``),
#: absl's notice that it is not initialised, and the continuation line of the CPU-feature notice.
CPP_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ [\w./+-]+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow)"
)


def quiet_environment() -> None:
    """TensorFlow's and absl's log thresholds, where the user has not set their own (before TensorFlow loads)."""
    os.environ.setdefault(LEVEL_ENV, "2")
    import absl.logging

    absl.logging.set_stderrthreshold("error")


def without_cpp_lines(text: str) -> str:
    """`text` less TensorFlow's C++ log lines (logged at DEBUG instead)."""
    kept = []
    for line in text.splitlines(keepends=True):
        if CPP_LOG_LINE.match(line):
            log.debug("tensorflow: %s", line.rstrip())
        else:
            kept.append(line)
    return "".join(kept)


@contextmanager
def held_stderr() -> Iterator[None]:
    """Hold file descriptor 2 while the block runs; then write back what was not TensorFlow's C++ logging."""
    if os.environ.get(LEVEL_ENV) == "0":  # the user asked for every line
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            rest = without_cpp_lines(held.read().decode(errors="replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


quiet_environment()
with held_stderr():
    import keras
    import tensorflow as tf

    threads.limit_tensorflow()  # before the first op: TensorFlow's pools are fixed from then on
    tf.config.list_logical_devices()  # the device query that logs cuInit, here rather than at the first op

__all__ = ["keras", "tf"]
