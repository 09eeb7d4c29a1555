"""Book: the Jupyter Book built from the executed notebooks (`build`), how a page is prepared (`pages`),
what the pages paste (the comparison's `findings`, the calibration's, the worlds' and the donors' values),
the claims check run before every build, the navigation in reading order, and a training page (`run_page`)."""

from ...lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "build_book": "build",
    "comparison_values": "findings",
    "glue_words": "claims",
    "calibration_values": "calibration_words",
    "worlds_values": "calibration_words",
    "donors_values": "calibration_words",
    "run_page": "run_page",
})
