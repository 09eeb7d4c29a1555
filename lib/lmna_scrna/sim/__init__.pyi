"""The face of `lmna_scrna.sim`: the names it offers and the module of each (lazy_loader reads them at import,
mypy and IDEs read them as types). What the package is for: its `__init__.py`."""

from .dataset import resolve_raw_dir as resolve_raw_dir, simulate as simulate
from .model import default_lines as default_lines
from .params import SIM_SIZES as SIM_SIZES
from .worlds import WORLDS as WORLDS, default_world as default_world, load_worlds as load_worlds, world as world
