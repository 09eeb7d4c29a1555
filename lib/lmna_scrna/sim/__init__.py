"""The simulator: the default data, 12 libraries in GEO's flat 10x layout whose answers are known.

GEO is unreachable where the report is built, so every notebook runs by default
on simulated libraries that pose the paper's questions (a day program, patient,
library and line effects, planted QC failures). It is a package of its own
because it is a source of data, not a reader: it sits on `io` (the study sheet,
the raw-folder checks) and writes the files `io` reads. Its numbers are in
`params`, the generative model in `model`, the sampler in `sampler`, the writer
and the default raw folder in `dataset`, and the two worlds fitted to the
paper's Table 1 (``params/worlds.yaml``) in `worlds`.
"""

import lazy_loader

# Names load on first use, from the stub beside this file (__init__.pyi), which mypy and IDEs read as well.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
