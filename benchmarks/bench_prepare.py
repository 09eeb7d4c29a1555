"""Benchmark: time and peak memory of preparing the report's six splits.

Each measured job runs in its own process with a fresh (cold) cache, side by
side with its reference in the same run:

* six splits from a cold cache vs. ``zcat`` of every matrix file, in CPU
  time (all processes' user + system time, from ``getrusage`` of the job and
  its reaped children; target ≤ 2.0×: parsing once and reusing the cache for
  every split costs about one read of the data, not one per split), the
  figure least moved by other work on the machine; wall times beside
  ``zcat`` and the decompressor the reader itself uses (`tenx` opens .gz
  files with ISA-L's igzip when installed), in one process and spread over
  one process per core, for information;
* the largest single process's peak RSS while preparing the six splits (target ≤ 500 MB);
* peak RSS of one split over 12 GSMs vs. over 3 GSMs of the same size
  (target ≤ 1.3×: memory is about one GSM, flat in the number of GSMs);
* peak RSS of the six splits vs. an in-memory scanpy pipeline for one split
  that reads and concatenates everything (target ≤ 0.5×).

Peak RSS of a job is its own high-water mark; for a job with worker processes
(the parallel gunzip) it adds, per worker, the largest worker's: an upper
bound on the memory held at any one time.

The timed jobs (gunzip, six splits) run ``--repeat`` times, interleaved so
that each sees similar load, and the run with the median wall time is reported.

Usage: ``make bench``, or ``python benchmarks/bench_prepare.py [--tiny] [--data DIR] [--repeat N] [--only JOB ...]``
(default: the ``full`` simulated data, simulated first if missing). ``--tiny``
runs every job once on tiny simulated data made in a temp folder (seconds; the
test suite runs it so the benchmark cannot rot). Timings depend on what else
the machine is doing; the script prints the CPU count and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from lmna_scrna.pp.gsm_pass import MAX_PARSE_WORKERS
from lmna_scrna.threads import budget

#: Three GSMs of the same size as the study's, for the memory-flatness check.
THREE_GSMS = {"train": ("GSM8325046", "GSM8325047"), "test": ("GSM8325054",)}


#: Processes that parse a cold cache, as `gsm_pass.load_gsms` chooses them.
PARSE_WORKERS = min(MAX_PARSE_WORKERS, budget())
#: Processes of the second gunzip reference: every core, as scipy's reader threads may use them all.
GUNZIP_PROCESSES = min(len(os.sched_getaffinity(0)), 4)


def _usage() -> dict:
    """CPU seconds of this process and its reaped children; peak RSS of itself and of its largest child."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "rss_self_mb": me.ru_maxrss / 1024,  # Linux reports KiB
        "rss_child_mb": kids.ru_maxrss / 1024,
    }


# --------------------------------------------------------------------------- jobs (run in a child)


def _gunzip(path: Path) -> None:
    from lmna_scrna.io.tenx import _open_binary  # the reader's own decompressor

    with _open_binary(path) as fh:
        while fh.read(1 << 22):
            pass


def _gunzip_all(data: Path, processes: int) -> dict:
    """Decompress every matrix file once to nowhere, as the reader does: the floor of any pipeline reading them."""
    files = sorted(data.glob("*matrix.mtx.gz"))
    if processes == 1:
        for f in files:
            _gunzip(f)
    else:
        with ProcessPoolExecutor(processes) as pool:  # forked: no import cost charged to the reference
            list(pool.map(_gunzip, files))
    return {"files": len(files), "gz_mb": round(sum(f.stat().st_size for f in files) / 2**20), "workers": processes}


def job_zcat(data: Path, _: Path) -> dict:
    """`zcat` of every matrix file to /dev/null: the field's everyday decompression floor."""
    files = sorted(data.glob("*matrix.mtx.gz"))
    subprocess.run(["zcat", *map(str, files)], stdout=subprocess.DEVNULL, check=True)
    return {"files": len(files)}


def job_gunzip(data: Path, _: Path) -> dict:
    return _gunzip_all(data, 1)


def job_gunzip_parallel(data: Path, _: Path) -> dict:
    return _gunzip_all(data, GUNZIP_PROCESSES)


def job_six_splits(data: Path, work: Path) -> dict:
    """Prepare the report's splits (every split file) in a row from an empty cache, as the report does."""
    from lmna_scrna.config import PrepParams
    from lmna_scrna.io.study import load_samples
    from lmna_scrna.pp.assemble import prepare_split
    from lmna_scrna.pp.splits import make_split
    from lmna_scrna.report.runner.param_files import split_files

    sheet, seconds = load_samples(), {}
    for name, identity in split_files().items():
        t0 = time.perf_counter()
        split = make_split(identity["scheme"], sheet, identity["test_day"], identity["val_day"])
        prepare_split(data, split, sheet=sheet, params=PrepParams(), out=work / f"{name}.h5ad", cache_dir=work / "cache")
        seconds[name] = round(time.perf_counter() - t0, 1)
    return {"per_split_s": seconds, "workers": PARSE_WORKERS}


def _one_split(data: Path, work: Path, gsms: dict[str, tuple[str, ...]] | None) -> dict:
    from lmna_scrna.config import PrepParams
    from lmna_scrna.io.study import load_samples
    from lmna_scrna.pp.assemble import prepare_split
    from lmna_scrna.pp.splits import Split, make_split

    sheet = load_samples()
    if gsms is None:
        split = make_split("original", sheet)
    else:
        split = Split("bench3", "gsm", gsms["train"], (), gsms["test"])
        sheet = sheet[sheet["gsm"].isin(split.gsms)]
    out = prepare_split(data, split, sheet=sheet, params=PrepParams(), out=work / "one.h5ad", cache_dir=work / "cache")
    return {"gsms": len(split.gsms), "h5ad_mb": round(out.stat().st_size / 2**20), "workers": PARSE_WORKERS}


def job_split_3(data: Path, work: Path) -> dict:
    return _one_split(data, work, THREE_GSMS)


def job_split_12(data: Path, work: Path) -> dict:
    return _one_split(data, work, None)


def job_scanpy_in_memory(data: Path, _: Path) -> dict:
    """The textbook pipeline for the original split: read all, concatenate, QC, normalise, HVG, scale."""
    import anndata as ad
    import numpy as np
    import scanpy as sc
    from sklearn.utils.sparsefuncs import mean_variance_axis

    from lmna_scrna.config import PrepParams
    from lmna_scrna.io.study import load_samples
    from lmna_scrna.io.tenx import read_gsm
    from lmna_scrna.pp.splits import make_split

    p, sheet = PrepParams(), load_samples()
    split = make_split("original", sheet)
    parts = []
    for gsm in split.gsms:
        c = read_gsm(data, gsm)
        a = ad.AnnData(X=c.X, obs={"gsm": np.full(c.X.shape[0], gsm)})
        a.obs_names = [f"{gsm}:{b}" for b in c.barcodes]
        a.var_names = c.gene_ids
        a.var["symbol"] = c.gene_symbols
        parts.append(a)
    adata = ad.concat(parts, merge="same")
    del parts
    adata.var["mt"] = adata.var["symbol"].str.startswith("MT-")
    sc.pp.calculate_qc_metrics(adata, qc_vars=["mt"], inplace=True, percent_top=None)
    sc.pp.filter_cells(adata, min_genes=p.min_genes)
    sc.pp.filter_cells(adata, max_genes=p.max_genes)
    adata = adata[adata.obs["pct_counts_mt"] <= p.max_pct_mt].copy()
    keep = [
        idx[np.sort(np.random.default_rng(p.seed).choice(idx.size, min(idx.size, p.max_cells), replace=False))]
        for idx in adata.obs.groupby("gsm", observed=True).indices.values()
    ]
    adata = adata[np.sort(np.concatenate(keep))].copy()
    sc.pp.normalize_total(adata, target_sum=p.target_sum)
    sc.pp.log1p(adata)
    train = adata[adata.obs["gsm"].isin(split.train).to_numpy()]
    _, var = mean_variance_axis(train.X, axis=0)
    eligible = np.asarray((train.X > 0).sum(axis=0)).ravel() >= p.min_cells_per_gene
    hvg = np.argsort(-np.where(eligible, var, -1))[: p.n_hvg]
    adata = adata[:, np.sort(hvg)].copy()
    sc.pp.scale(adata, zero_center=False, max_value=p.clip)
    return {"cells": adata.n_obs}


JOBS = {
    f.__name__[4:]: f
    for f in (
        job_zcat, job_gunzip, job_gunzip_parallel, job_six_splits, job_split_3, job_split_12, job_scanpy_in_memory
    )
}
#: Jobs whose time is compared: repeated, interleaved.
TIMED = ("zcat", "gunzip", "gunzip_parallel", "six_splits")


def _child(name: str, data: Path, work: Path) -> None:
    # Import the libraries before the clock starts: a fixed cost, not the work measured. Only the
    # scanpy job imports scanpy: its ~100 MB would otherwise count in every job's peak memory.
    import anndata  # noqa: F401

    import lmna_scrna.io.tenx  # noqa: F401
    import lmna_scrna.pp.assemble  # noqa: F401

    if name == "scanpy_in_memory":
        import scanpy  # noqa: F401

    before, t0 = _usage(), time.perf_counter()
    extra = JOBS[name](data, work)
    seconds, after = time.perf_counter() - t0, _usage()
    workers = extra.get("workers", 1)
    # child RSS is the largest reaped child's; up to `workers` of them ran at once beside this process
    peak = after["rss_self_mb"] + (workers * after["rss_child_mb"] if workers > 1 else 0.0)
    largest = max(after["rss_self_mb"], after["rss_child_mb"])
    print(json.dumps({"seconds": seconds, "cpu_s": after["cpu_s"] - before["cpu_s"], "peak_rss_mb": peak,
                      "largest_process_mb": round(largest), "main_mb": round(after["rss_self_mb"]),
                      "largest_child_mb": round(after["rss_child_mb"]), **extra}))


# --------------------------------------------------------------------------- driver


def measure(name: str, data: Path) -> dict:
    """Run one job in a fresh process with a fresh (cold) cache folder."""
    with tempfile.TemporaryDirectory(prefix=f"bench_{name}_") as work:
        env = {**os.environ, "LMNA_OUTPUTS": work, "TF_CPP_MIN_LOG_LEVEL": "2"}
        proc = subprocess.run(
            [sys.executable, __file__, "--child", name, "--data", str(data), "--work", work],
            env=env, capture_output=True, text=True, check=False,
        )
    if proc.returncode != 0:
        sys.exit(f"job {name} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    extra = {k: v for k, v in result.items() if k not in ("seconds", "cpu_s", "peak_rss_mb", "largest_process_mb")}
    print(f"  {name:<18} {result['seconds']:7.1f} s wall {result['cpu_s']:7.1f} s CPU "
          f"{result['peak_rss_mb']:7.0f} MB  {extra}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="raw 10x folder (default: simulated 'full' data)")
    parser.add_argument("--tiny", action="store_true", help="tiny simulated data in a temp folder, one run per job")
    parser.add_argument("--repeat", type=int, help="runs of each timed job, median reported (default 2; 1 with --tiny)")
    parser.add_argument("--only", nargs="+", choices=sorted(JOBS), help="run only these jobs (no summary table)")
    parser.add_argument("--child", choices=sorted(JOBS), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.data, args.work)
        return
    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as tmp:
        data = _data_in_child(Path(tmp) / "data" if args.tiny else None, args.data)
        report(data, args.repeat or (1 if args.tiny else 2), args.only)


#: Run in a child by `_data_in_child`: argv is the tiny folder ("" for the full data) and the raw folder ("" for none).
_RESOLVE_DATA = """
import sys
from pathlib import Path
tiny, raw = sys.argv[1:]
if tiny:
    import _tiny
    print(_tiny.simulated(Path(tiny)))
else:
    from lmna_scrna.sim import resolve_raw_dir
    print(resolve_raw_dir(raw or None, "full"))
"""


def _data_in_child(tiny: Path | None, raw: Path | None) -> Path:
    """The raw folder, simulated first if need be, in a child process rather than in this one.

    Linux carries a process's peak RSS across fork and exec into its children:
    had this process grown by simulating (765 MB), every job's peak would read
    at least that.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _RESOLVE_DATA, str(tiny or ""), str(raw or "")],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])},
        stdout=subprocess.PIPE, text=True, check=False,
    )
    if proc.returncode != 0:
        sys.exit("could not simulate or find the raw data (its error is above)")
    return Path(proc.stdout.strip().splitlines()[-1])


def report(data: Path, repeat: int, only: list[str] | None) -> None:
    """Measure the jobs on this raw folder and print the table of figures beside their references."""
    print(f"data {data}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared machine: timings are "
          f"noisy); cold GSMs parsed by {PARSE_WORKERS} process(es), second gunzip reference on {GUNZIP_PROCESSES}")
    wanted = only or list(JOBS)
    runs: dict[str, list[dict]] = {name: [] for name in wanted}
    for _ in range(repeat):
        for name in (n for n in TIMED if n in wanted):
            runs[name].append(measure(name, data))
    for name in (n for n in wanted if n not in TIMED):
        runs[name].append(measure(name, data))
    if only:
        return
    r = {name: _median(results) for name, results in runs.items()}
    six, zcat, gz1, gzp = r["six_splits"], r["zcat"], r["gunzip"], r["gunzip_parallel"]
    rows = [
        ("six splits, CPU all processes (s)", six["cpu_s"], "zcat CPU (s)", zcat["cpu_s"], 2.0),
        ("six splits, cold cache (s)", six["seconds"], "zcat all matrices (s)", zcat["seconds"], None),
        ("six splits, cold cache (s)", six["seconds"], "reader's gunzip, 1 process (s)", gz1["seconds"], None),
        ("six splits, cold cache (s)", six["seconds"], f"same, {GUNZIP_PROCESSES} processes (s)", gzp["seconds"], None),
        ("six splits, largest process (MB)", six["largest_process_mb"], "target (MB)", 500.0, 1.0),
        ("peak RSS, one split of 12 GSMs (MB)", r["split_12"]["peak_rss_mb"], "same, 3 GSMs (MB)",
         r["split_3"]["peak_rss_mb"], 1.3),
        ("peak RSS, six splits (MB)", six["peak_rss_mb"], "in-memory scanpy, one split (MB)",
         r["scanpy_in_memory"]["peak_rss_mb"], 0.5),
    ]
    print(f"\ntimed jobs: the run with the median wall time of {repeat} (lower middle for an even count)\n")
    print(f"{'measured':<38} {'value':>9} | {'reference':<36} {'value':>9} | {'ratio':>6} | {'target':>7} | pass")
    for label, value, ref_label, ref, target in rows:
        ratio = value / ref if ref > 0 else float("inf")  # a tiny run's reference may round to 0
        verdict = "-" if target is None else ("yes" if ratio <= target else "NO")
        shown = "(info)" if target is None else f"<= {target}"
        print(f"{label:<38} {value:9.1f} | {ref_label:<36} {ref:9.1f} | {ratio:6.2f} | {shown:>7} | {verdict}")
    print(f"\n(in-memory scanpy took {r['scanpy_in_memory']['seconds']:.1f} s for one split; "
          f"six-split runs {[round(x['seconds'], 1) for x in runs['six_splits']]} s, per split "
          f"{[x['per_split_s'] for x in runs['six_splits']]})")


def _median(results: list[dict]) -> dict:
    """The run with the median wall time (the lower middle one for an even count)."""
    ranked = sorted(results, key=lambda x: x["seconds"])
    return ranked[(len(ranked) - 1) // 2]


if __name__ == "__main__":
    main()
