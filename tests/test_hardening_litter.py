"""No litter (issue #11, item 9): a killed writer's hidden temporaries are removed by the next
writer of the same output, never a live writer's; simulated folders get normal permissions."""

from __future__ import annotations

import os
import stat

from _tenx_fixtures import SMALL_PARAMS, write_study

from lmna_scrna.atomic import _host, atomic_path, write_text_atomic
from lmna_scrna.io import sim_params
from lmna_scrna.io import simulation as sim
from lmna_scrna.pp.assemble import prepare_split
from lmna_scrna.pp.splits import make_split


def test_next_write_removes_a_killed_writers_temp_file_but_not_a_live_ones(tmp_path, dead_pid):
    target = tmp_path / "result.h5ad"
    stale = tmp_path / f".result.h5ad.{_host()}-{dead_pid}.k1ll3d00.part.h5ad"
    live = tmp_path / f".result.h5ad.{_host()}-{os.getppid()}.w0rk1ng0.part.h5ad"  # a running process's
    remote = tmp_path / f".result.h5ad.otherhost-{dead_pid}.k1ll3d00.part.h5ad"  # its PID means nothing here
    other = tmp_path / f".other.h5ad.{_host()}-{dead_pid}.k1ll3d00.part.h5ad"  # another output's
    for path in (stale, live, remote, other):
        path.write_text("half")

    write_text_atomic(target, "new")

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, live.name, remote.name, other.name])


def test_simulated_folder_has_normal_permissions_and_no_litter(tmp_path, dead_pid, monkeypatch, sheet):
    monkeypatch.setitem(sim_params.PROFILES, "tiny", sim_params.Profile(n_cells=60, n_genes=8000, median_umis=4000.0))
    sheet = sheet.head(2)
    stale = tmp_path / f".data.{_host()}-{dead_pid}.abc_123x.part"
    stale.mkdir()
    previous = os.umask(0o022)
    try:
        out = sim.simulate(tmp_path / "data", profile="tiny", sheet=sheet)
    finally:
        os.umask(previous)

    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_temp_names_carry_the_writers_pid(tmp_path):
    with atomic_path(tmp_path / "t.json") as tmp:
        assert tmp.name.startswith(f".t.json.{_host()}-{os.getpid()}.")


def test_finished_prepare_leaves_only_cache_files(tmp_path, sheet):
    raw, cache = tmp_path / "raw", tmp_path / "cache"
    write_study(raw, sheet.head(4), n_cells=30)
    prepare_split(raw, make_split("random_cells", sheet.head(4)), sheet.head(4), SMALL_PARAMS, tmp_path / "x.h5ad",
                  cache_dir=cache)

    assert sorted(p.suffix for p in cache.iterdir()) == [".h5"] * 4  # no .lock beside them
