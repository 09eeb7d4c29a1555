"""The simulator: default data in GEO's flat 10x layout whose answers are known.

GEO is unreachable where the report is built, so every notebook runs by default
on simulated libraries that pose the paper's questions (a day program, a patient
effect, library and line effects, planted QC failures). It sits on `io` (the
study sheet, the raw-folder checks) and writes the files `io` reads, so nothing
below it knows data can be made up: its numbers (`params`), generative model
(`model`), sampler (`sampler`), the writer and default raw folder (`dataset`)
and the two fitted worlds it is run at (`worlds`, ``params/worlds.yaml``).
"""

from .dataset import resolve_raw_dir, simulate
from .model import default_lines
from .params import SIM_SIZES
from .worlds import WORLDS, default_world, load_worlds, world

__all__ = [
    "SIM_SIZES",
    "WORLDS",
    "default_lines",
    "default_world",
    "load_worlds",
    "resolve_raw_dir",
    "simulate",
    "world",
]
