"""Tools: Keras models A and B, training, evaluation, the linear baseline, the run folder, embeddings,
the calibration and the library-level inference.

Names load on first use, so reading runs or metrics does not start TensorFlow.
"""

import lazy_loader

# Names load on first use, from the stub beside this file (__init__.pyi), which mypy and IDEs read as well.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
