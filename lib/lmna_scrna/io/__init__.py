"""Data in: the study sheet, 10x readers, the GEO download with safe extraction (the simulator is `lmna_scrna.sim`).
"""

import lazy_loader

# Names load on first use, from the stub beside this file (__init__.pyi), which mypy and IDEs read as well.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
