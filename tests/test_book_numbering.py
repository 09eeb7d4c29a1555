"""Figures are named, not numbered, on every page of the book (``book/_config.yml``)."""

from __future__ import annotations

from pathlib import Path

from sphinx.config import Config

from lmna_scrna.report.book.build import BOOK_DIR


def test_sphinx_reads_the_books_numfig_as_off() -> None:
    """Jupyter Book hands ``sphinx.config`` to Sphinx as overrides; Sphinx must read numfig as False."""
    from jupyter_book.config import get_final_config

    config, _ = get_final_config(user_yaml=Path(BOOK_DIR / "_config.yml"), cli_config={"latex_individualpages": False},
                                 sourcedir=BOOK_DIR)
    assert Config().convert_overrides("numfig", config["numfig"]) is False  # as Sphinx applies an override
    assert "sphinx_jupyterbook_latex" not in config["extensions"], "its config-inited handler sets numfig = True"
