"""Book: the Jupyter Book built from the executed notebooks (`build`), how a page is prepared (`pages`),
what the pages paste (the comparison's `findings`, the calibration's, the worlds' and the donors' values),
the claims check run before every build, the navigation in reading order, and a training page (`run_page`)."""

import lazy_loader

# Names load on first use, from the stub beside this file (__init__.pyi), which mypy and IDEs read as well.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
