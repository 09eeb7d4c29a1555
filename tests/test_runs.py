"""The run folder: names that cannot escape runs/, one writer at a time, no half run ever visible."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmna_scrna import cli
from lmna_scrna.errors import InputError
from lmna_scrna.paths import check_run_name, run_dir
from lmna_scrna.tl.runs import building

BAD_NAMES = ["", " ", ".", "..", "../x", "a/b", "/tmp/victim", ".hidden", "a\\b",
             "a\tb", "a\nb", "a\x1bb", "zero\u200bwidth", " lead", "trail ", "x" * 201, "é" * 101]

# A writer in its own process: enters building(), writes a file, says so, then holds the build.
_HOLDER = """
import sys, time
from pathlib import Path
from lmna_scrna.tl.runs import building
with building(Path(sys.argv[1])) as work:
    (work / "config.json").write_text("{}")
    print("building", flush=True)
    time.sleep(float(sys.argv[2]))
    (work / "summary.json").write_text("{}")
"""


def _start_holder(target: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(target), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "building"
    return proc


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_run_names_are_refused(name, tmp_path, monkeypatch):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path))
    with pytest.raises(InputError, match="run name"):
        run_dir(name)
    from lmna_scrna.config import TrainConfig
    from lmna_scrna.tl.train import train_run

    with pytest.raises(InputError, match="run name"):  # before the (missing) data is even looked at
        train_run(tmp_path / "missing.h5ad", name, TrainConfig(), out_dir=tmp_path / "runs")


@pytest.mark.parametrize("name", ["..", ".hidden"])
def test_building_refuses_a_folder_that_is_not_a_run_name(name, tmp_path):
    with pytest.raises(InputError, match="run name"):
        with building(tmp_path / "runs" / name):
            pytest.fail("entered the build")


@pytest.mark.parametrize("name", ["", ".", "..", "/abs/victim", "../x", "a\tb", "x" * 300])
def test_cli_refuses_a_bad_run_name_before_any_work_and_keeps_every_folder(name, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LMNA_OUTPUTS", str(tmp_path / "outputs"))
    victim = tmp_path / "outputs" / "runs" / "R"
    victim.mkdir(parents=True)
    (victim / "precious.txt").write_text("keep")
    if name.startswith("/"):
        name = str(tmp_path / "victim")
        Path(name).mkdir()
        (Path(name) / "precious.txt").write_text("keep")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--data", str(tmp_path / "none.h5ad"), "--run", name])
    assert exit_info.value.code == 2
    assert "--run" in capsys.readouterr().err
    assert (victim / "precious.txt").read_text() == "keep"
    assert not (tmp_path / "outputs" / "x").exists() and not (tmp_path / "x").exists()
    if name.startswith("/"):
        assert (Path(name) / "precious.txt").read_text() == "keep"


def test_good_names_pass():
    for name in ("dm_t19_v0_A", "sweep-1", "run.2", "my run", "é" * 100, "x" * 200):
        assert check_run_name(name) == name


def test_longest_name_fits_its_build_folder_and_lock(tmp_path):
    """A name at the limit must not fail only at the end, when its hidden build folder is renamed."""
    target = tmp_path / "runs" / ("x" * 200)
    with building(target) as work:
        (work / "summary.json").write_text("{}")
    assert (target / "summary.json").exists()


def test_a_second_train_is_refused_before_tensorflow_is_imported(tmp_path):
    """The run lock is checked first: the refusal used to come after ~23 s of TensorFlow's imports."""
    outputs = tmp_path / "outputs"
    first = _start_holder(outputs / "runs" / "R", 60.0)
    probe = ("import sys; from lmna_scrna.cli import main; "
             "rc = main(['train', '--data', 'none.h5ad', '--run', 'R']); print(rc, 'tensorflow' in sys.modules)")
    try:
        done = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "LMNA_OUTPUTS": str(outputs)},
                              capture_output=True, text=True, timeout=120)
    finally:
        first.kill()
        first.wait()
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert re.search(r"error: run R \(outputs/runs/R\) is being written by another process \(host .*PID \d+\)",
                     done.stderr), done.stderr


def test_a_second_writer_is_refused_and_the_first_finishes_whole(tmp_path):
    target = tmp_path / "runs" / "T"
    first = _start_holder(target, 3.0)
    try:
        with pytest.raises(InputError, match=r"run T .* is being written by another process \(host .*PID"):
            with building(target):
                pytest.fail("a second writer entered the build")
        assert not target.exists(), "a reader saw a run before its writer finished"
    finally:
        assert first.wait(timeout=60) == 0
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "summary.json"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["T"], "build folder or lock file left behind"


def test_a_killed_writer_releases_the_run_and_its_build_is_removed(tmp_path):
    target = tmp_path / "runs" / "K"
    holder = _start_holder(target, 60.0)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    leftovers = [p.name for p in target.parent.iterdir()]
    assert any(n.startswith(".building-K.") for n in leftovers), leftovers
    with building(target) as work:
        (work / "summary.json").write_text("{}")
    assert sorted(p.name for p in target.parent.iterdir()) == ["K"]


def test_concurrent_writers_of_different_runs_do_not_block_each_other(tmp_path):
    first = _start_holder(tmp_path / "runs" / "A", 2.0)
    try:
        start = time.perf_counter()
        with building(tmp_path / "runs" / "B") as work:
            (work / "summary.json").write_text("{}")
        assert time.perf_counter() - start < 1.5
    finally:
        assert first.wait(timeout=60) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["A", "B"]
