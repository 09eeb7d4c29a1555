"""Book: the Jupyter Book built from the executed notebooks (`build`), how a page is prepared (`pages`),
the intro's findings and bottom line, the calibration page's sentences, the navigation in reading
order, and what a training page says (`run_page`)."""

from ...lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "build_book": "build",
    "glue_findings": "pages",
    "calibration_paragraphs": "calibration_words",
    "worlds_sentence": "calibration_words",
    "donors_sentence": "calibration_words",
    "run_page": "run_page",
})
