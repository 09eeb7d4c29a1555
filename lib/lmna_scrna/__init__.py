"""lmna-scrna: classify LMNA patient vs control cells in scRNA-seq (GEO GSE269705)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lmna-scrna")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
