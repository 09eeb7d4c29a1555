"""`lmna-scrna` command line: thin wrappers over the library, one subcommand per job.

Each subcommand has an `_add_<name>` (arguments) and a `_run_<name>` (call into
the library). Bad input raises `LmnaError`; `main` prints it on one line and exits 2.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from . import __version__
from .config import MATRIX_KINDS, TRAIN_CHOICES, PrepParams, TrainConfig
from .errors import InputError, LmnaError
from .paths import outputs_dir, require_dir


class _Deprecated(argparse.Action):
    """An old option name that still works, and says which name replaced it."""

    def __init__(self, option_strings: list[str], dest: str, new: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)  # type: ignore[arg-type]
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        print(f"lmna-scrna: {option_string} is deprecated, use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _add_matrix_kind(p: argparse.ArgumentParser, default: str) -> None:
    """``--matrix-kind``; ``--kind`` (the paper code's name, and this CLI's before) still works."""
    p.add_argument("--matrix-kind", choices=MATRIX_KINDS, default=default, help="which 10x matrix set of each GSM to read")
    p.add_argument("--kind", dest="matrix_kind", choices=MATRIX_KINDS, action=_Deprecated, new="--matrix-kind")


def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="list the GSMs found in a raw-data folder and any problem")
    p.add_argument("raw_dir", type=Path, help="folder with the 10x files (GEO flat layout or per-sample folders)")
    p.add_argument("--sheet", type=Path, default=None, help="sample sheet (default params/samples.csv)")
    _add_matrix_kind(p, "filtered")


def _run_inspect(args: argparse.Namespace) -> int:
    from .io.raw_folder import inspect_dir
    from .io.study import load_samples

    table, problems = inspect_dir(args.raw_dir, load_samples(args.sheet), matrix_kind=args.matrix_kind)
    print(table.to_string(index=False))
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _add_download(sub: argparse._SubParsersAction) -> None:
    from .io.geo import GEO_RAW_URL

    p = sub.add_parser("download", help="download GSE269705_RAW.tar from GEO (resumable) and extract it")
    p.add_argument("--dest", type=Path, default=outputs_dir() / "data" / "GSE269705", help="folder for the tar and the extracted files")
    p.add_argument("--url", default=GEO_RAW_URL, help="where to fetch the tar from")


def _run_download(args: argparse.Namespace) -> int:
    from .io.geo import fetch_raw

    raw_dir = fetch_raw(args.url, args.dest)
    print(raw_dir)
    return 0


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    from .sim.params import SIM_SIZES

    p = sub.add_parser("simulate", help="write the simulated default dataset (GEO flat layout)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--size", choices=tuple(SIM_SIZES), default="full", help="how many cells and genes per library")
    p.add_argument("--profile", dest="size", choices=tuple(SIM_SIZES), action=_Deprecated, new="--size")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--effect-scale", type=float, default=None,
                   help="multiplies the planted patient effect (0 = no genotype effect: the null; "
                   "default: the default world's fitted scale, params/worlds.yaml)")
    p.add_argument("--library-effect-scale", type=float, default=1.0,
                   help="multiplies the library (batch and depth) effects")
    p.add_argument("--line-effect-scale", type=float, default=None,
                   help="multiplies each iPSC line's signature and differentiation program (0 = lines differ "
                   "only by genotype; default: the default world's fitted scale)")


def _run_simulate(args: argparse.Namespace) -> int:
    from .sim.dataset import simulate

    print(simulate(args.out, size=args.size, seed=args.seed, effect_scale=args.effect_scale,
                   library_effect_scale=args.library_effect_scale, line_effect_scale=args.line_effect_scale))
    return 0


def _add_fit_worlds(sub: argparse._SubParsersAction) -> None:
    from .sim.params import SIM_SIZES
    from .sim.worlds import WORLDS

    p = sub.add_parser("fit-worlds", help="fit the simulator's worlds G and L to the paper's Table 1 "
                       "(writes params/worlds.yaml; hours on 2 cores at the full size)")
    p.add_argument("--size", choices=tuple(SIM_SIZES), default="calibration", help="simulation size to fit at")
    p.add_argument("--replicates", type=int, default=6, help="simulated studies per evaluated scale")
    p.add_argument("--max-evaluations", type=int, default=6, help="scales tried per world at most")
    p.add_argument("--world", nargs="+", choices=tuple(WORLDS), default=list(WORLDS), help="worlds to (re)fit")
    p.add_argument("--out", type=Path, default=None, help="worlds file (default params/worlds.yaml)")


def _run_fit_worlds(args: argparse.Namespace) -> int:
    from .tl.world_fit import fit_worlds

    print(fit_worlds(size=args.size, replicates=args.replicates, max_evaluations=args.max_evaluations,
                     worlds=args.world, out=args.out))
    return 0


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    from .pp.genes import HVG_FLAVORS
    from .pp.splits import SCHEMES

    p = sub.add_parser("prepare", help="QC, normalise, select HVGs on train GSMs, write one split's .h5ad")
    p.add_argument("--raw", type=Path, required=True, help="raw-data folder")
    p.add_argument("--scheme", choices=tuple(SCHEMES),
                   help="; ".join(f"{name}: {scheme.summary}" for name, scheme in SCHEMES.items()))
    p.add_argument("--split", dest="scheme", choices=tuple(SCHEMES), action=_Deprecated, new="--scheme")
    p.add_argument("--test-day", type=int, default=None)
    p.add_argument("--val-day", type=int, default=None)
    p.add_argument("--out", type=Path, required=True, help="output .h5ad")
    p.add_argument("--cache", type=Path, default=None, help="per-GSM cache folder (default outputs/cache)")
    p.add_argument("--sheet", type=Path, default=None)
    defaults = PrepParams()
    for name, value in vars(defaults).items():
        if name == "matrix_kind":
            _add_matrix_kind(p, value)
            continue
        flavors = {"choices": tuple(HVG_FLAVORS), "help": "how HVGs are ranked"} if name == "hvg_flavor" else {}
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value, **flavors)


def _run_prepare(args: argparse.Namespace) -> int:
    from .io.raw_folder import refuse_strangers
    from .io.study import load_samples
    from .pp.assemble import prepare_split
    from .pp.splits import SCHEMES, days_problem, make_split

    if args.scheme is None:
        raise InputError(f"prepare needs --scheme ({', '.join(SCHEMES)})")
    problem = days_problem(args.scheme, args.test_day, args.val_day, "--test-day/--val-day")
    if problem:  # not silently ignored: the user meant another split (notebooks keep day defaults for any split)
        raise InputError(f"--{problem}")
    if args.out.suffix != ".h5ad":  # anndata writes HDF5 whatever the name says
        raise InputError(f"--out {args.out}: must end in .h5ad (prepare writes an AnnData HDF5 file)")
    sheet = load_samples(args.sheet)
    refuse_strangers(require_dir(args.raw, "raw-data folder"), sheet)
    params = PrepParams(**{k: getattr(args, k) for k in vars(PrepParams())})
    split = make_split(args.scheme, sheet, test_day=args.test_day, val_day=args.val_day)
    print(prepare_split(args.raw, split, sheet=sheet, params=params, out=args.out, cache_dir=args.cache))
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train Model A or B on a processed .h5ad; write outputs/runs/<run>/")
    p.add_argument("--data", type=Path, required=True, help="processed split (.h5ad)")
    p.add_argument("--run", required=True, type=_run_name, help="run name (one folder name under outputs/runs)")
    p.add_argument("--seeds", type=int, nargs="+", default=[42])
    defaults = TrainConfig()
    special = {
        "widths": {"type": _widths, "help": "per-layer widths, e.g. 512,256 (default: depth x width)"},
        "threshold": {"type": float, "help": "fixed decision threshold (default: Youden's J on validation)"},
    }
    for name, value in vars(defaults).items():
        if name == "seed":
            continue
        spec = special.get(name) or {"type": type(value), "choices": TRAIN_CHOICES.get(name)}
        p.add_argument("--" + name.replace("_", "-"), **spec, default=value)


def _widths(text: str) -> tuple[int, ...]:
    """``--widths 512,256`` → (512, 256); the range check is `tl.models.check_config`'s."""
    try:
        return tuple(int(w) for w in text.replace(" ", "").split(",") if w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def _run_name(value: str) -> str:
    """argparse type of --run: a bad name is refused before any work, naming the option (exit 2)."""
    from .paths import check_run_name

    try:
        return check_run_name(value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_train(args: argparse.Namespace) -> int:
    from .paths import run_dir
    from .tl.runs import refuse_if_building

    refuse_if_building(run_dir(args.run))  # before TensorFlow's imports (about 20 s), not after them
    from .tl.train import train_run

    fields = {k: getattr(args, k) for k in vars(TrainConfig()) if k != "seed"}
    print(train_run(args.data, args.run, TrainConfig(**fields), seeds=args.seeds))
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="run every notebook of a profile with papermill, then build the book")
    p.add_argument("--profile", default="full", help="params/profiles/<profile>.yaml")
    p.add_argument("--data", type=Path, default=None, help="raw-data folder (default: simulate the profile's data)")
    p.add_argument("--jobs", type=int, default=1,
                   help="notebooks executed at once on local processes (at most this machine's cores)")
    p.add_argument("--scheduler", default=None,
                   help="address of a running Dask scheduler to execute on, e.g. tcp://host:8786")
    p.add_argument("--no-book", action="store_true", help="execute the notebooks but do not build the book")
    p.add_argument("--dry-run", action="store_true",
                   help="list each execution as fresh or stale and why, then stop: runs and writes nothing")
    p.add_argument("--only", nargs="+", default=[], metavar="ID",
                   help="run only these executions, and the stale ones they need (ids as --dry-run lists them)")
    p.add_argument("--force", nargs="+", default=[], metavar="ID",
                   help="run these executions even if fresh, and the stale ones they need")
    p.add_argument("--cell-timeout", type=float, default=None, metavar="SECONDS",
                   help="fail an execution whose cell runs longer (default: the profile's cell_timeout_s)")


def _run_report(args: argparse.Namespace) -> int:
    from .report.runner import dry_run, load_profile, report_lock, run_report

    if args.dry_run:  # reads only: no lock, no simulated data, no ledger written
        print("\n".join(dry_run(load_profile(args.profile), args.data, only=args.only, force=args.force)))
        return 0
    with report_lock():  # one report or book per outputs folder at a time
        executed = run_report(profile=args.profile, data_dir=args.data, jobs=args.jobs, scheduler=args.scheduler,
                              only=args.only, force=args.force, cell_timeout_s=args.cell_timeout)
        if args.no_book:
            print(executed)
            return 0
        from .report.book import build_book

        print(build_book())
    return 0


def _add_book(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("book", help="build the Jupyter Book from the executed notebooks (no re-execution) "
                   "into <outputs>/book/_build/html")


def _run_book(args: argparse.Namespace) -> int:
    from .report.book import build_book
    from .report.runner import report_lock

    with report_lock():
        print(build_book())
    return 0


COMMANDS = {
    "inspect": (_add_inspect, _run_inspect),
    "download": (_add_download, _run_download),
    "simulate": (_add_simulate, _run_simulate),
    "fit-worlds": (_add_fit_worlds, _run_fit_worlds),
    "prepare": (_add_prepare, _run_prepare),
    "train": (_add_train, _run_train),
    "report": (_add_report, _run_report),
    "book": (_add_book, _run_book),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmna-scrna", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


#: A parameter named in a library message: ``TrainConfig.lr`` / ``PrepParams.max_genes`` anywhere, or a bare
#: ``line_effect_scale`` or ``seeds`` just before ``=`` (the library's "name=value: must be ..." form).
_PARAMETER = re.compile(r"\b(?:TrainConfig|PrepParams)\.(\w+)|\b(\w+)(?==)")


def _as_typed(message: str, parser: argparse.ArgumentParser, command: str) -> str:
    """`message` with each parameter named as the option the user typed (``--lr``, not ``TrainConfig.lr``).

    The library names config fields, which is right for notebooks and
    profiles; on the command line the option is what the user knows. The map
    is the subcommand's own parser (each option's destination → its name), so
    it cannot drift from the options; a field with no option is left as it is.
    """
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    options: dict[str, str] = {}
    for action in sub._actions:
        if action.option_strings and action.help != argparse.SUPPRESS:  # not a deprecated alias
            options.setdefault(action.dest, action.option_strings[-1])
    options.setdefault("seed", options.get("seeds", "seed"))  # train: TrainConfig.seed comes from --seeds

    def option(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        return options.get(name, match[0])

    return _PARAMETER.sub(option, message)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every clean-up that handles an interrupt handles it too."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _close_progress_bars() -> None:
    """Close the bars an error left open: closed when garbage-collected, they would be redrawn after the error line."""
    from tqdm import tqdm

    for bar in list(tqdm._instances):  # the live bars, of tqdm.auto's class too
        bar.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The project's own progress at INFO; other libraries (papermill, TensorFlow) only when something is wrong.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger(__package__).setLevel(logging.DEBUG if args.verbose else logging.INFO)
    in_main_thread = threading.current_thread() is threading.main_thread()  # signals can be set only there
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return COMMANDS[args.command][1](args)
    except LmnaError as exc:
        _close_progress_bars()
        print(f"lmna-scrna {args.command}: error: {_as_typed(str(exc), parser, args.command)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        _close_progress_bars()
        terminated = isinstance(exc, Terminated)
        print(f"lmna-scrna {args.command}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
