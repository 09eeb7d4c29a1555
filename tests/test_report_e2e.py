"""End to end (slow): the smoke report through the CLI, its cache, and the built book in a real browser.

One smoke report is shared by every test here (module-scoped fixture): it runs
into a temp LMNA_OUTPUTS with a temp copy of params/ (so a split file can be
changed without touching the repository); its book is built into that outputs
folder (`paths.book_index`) from the checkout's book/, which the build only reads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from lmna_scrna.paths import PROJECT_ROOT
from lmna_scrna.report.runner.plan import load_profile

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


#: Library noise that belongs in a notebook's log file, never on the terminal or a page.
NOISE = ("cuInit", "I0000", "E0000", "absl::", "Kernel is running over TCP", "WARNING:tensorflow", "retracing",
         "Traceback")


def run(outputs: Path, *argv: str) -> tuple[float, str, str]:
    """A child Python process with LMNA_OUTPUTS set; returns (seconds, stdout, stderr)."""
    env = {**os.environ, "LMNA_OUTPUTS": str(outputs), "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return time.perf_counter() - start, result.stdout, result.stderr


def report(profile: Path, outputs: Path) -> float:
    """`lmna-scrna report` as `make report` runs it (the book is built separately).

    The terminal shows the runner's progress only: library noise goes to each notebook's log file.
    """
    seconds, stdout, stderr = run(outputs, "-m", "lmna_scrna.cli", "report", "--profile", str(profile), "--jobs", "2",
                                  "--no-book")
    terminal = stdout + stderr
    assert not [n for n in NOISE if n in terminal], terminal[-4000:]
    return seconds


def build_book(outputs: Path) -> tuple[float, Path]:
    """`lmna-scrna book` on `outputs`; the index.html it prints."""
    seconds, out, _ = run(outputs, "-m", "lmna_scrna.cli", "book")
    return seconds, Path(out.strip().splitlines()[-1])


def executed(outputs: Path) -> set[str]:
    return set(yaml.safe_load((outputs / "notebooks" / "ledger.json").read_text())["report"]["executed"])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("smoke")
    shutil.copytree(PROJECT_ROOT / "params", root / "params")
    outputs, profile = root / "outputs", root / "params" / "profiles" / "smoke.yaml"
    seconds = report(profile, outputs)
    book_seconds, index = build_book(outputs)
    assert index.is_relative_to(outputs)  # the book of this outputs folder, beside its runs
    print(f"smoke report: notebooks {seconds:.0f} s, book {book_seconds:.0f} s")
    return {"root": root, "outputs": outputs, "profile": profile, "index": index}


def test_smoke_report_executes_every_notebook(smoke: dict[str, Path]) -> None:
    ids = yaml.safe_load((smoke["outputs"] / "notebooks" / "ledger.json").read_text())["report"]["executions"]
    assert executed(smoke["outputs"]) == set(ids) and len(ids) == len(load_profile(smoke["profile"]).executions)
    for exec_id in ids:
        nb = nbformat.read(smoke["outputs"] / "notebooks" / f"{exec_id}.ipynb", as_version=4)
        assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", [])), exec_id
    assert smoke["index"].name == "index.html" and smoke["index"].is_file()


def test_second_report_executes_nothing_and_is_fast(smoke: dict[str, Path]) -> None:
    seconds = report(smoke["profile"], smoke["outputs"])
    assert executed(smoke["outputs"]) == set()
    book_seconds, index = build_book(smoke["outputs"])
    assert index == smoke["index"]
    assert seconds + book_seconds < 30, f"an unchanged report took {seconds:.0f} s + book {book_seconds:.0f} s"


def test_changing_one_split_file_reruns_only_its_dependents(smoke: dict[str, Path]) -> None:
    split_file = smoke["root"] / "params" / "splits" / "random_cells.yaml"
    split_file.write_text(split_file.read_text() + "max_cells: 400\n")
    report(smoke["profile"], smoke["outputs"])
    assert executed(smoke["outputs"]) == {
        "prepare_random_cells", "train_A_random_cells", "train_B_random_cells", "compare", "calibration", "worlds"}


# --------------------------------------------------------------------------- the book in a real browser

BROWSER_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--window-size=1400,1800",
)
BROKEN_IMAGES = "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"


@pytest.fixture()
def browser(tmp_path: Path):
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} missing: `make browser` (as root) installs Debian's chromium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (*BROWSER_ARGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_book_pages_images_and_table1_in_chromium(smoke: dict[str, Path], browser) -> None:
    from selenium.webdriver.common.by import By

    html = smoke["index"].parent
    ids = yaml.safe_load((smoke["outputs"] / "notebooks" / "ledger.json").read_text())["report"]["executions"]
    pages = [html / "intro.html", html / "data.html", html / "methods.html", html / "generated" / "provenance.html"]
    pages += [html / "notebooks" / f"{exec_id}.html" for exec_id in ids]
    missing = [p.name for p in pages if not p.is_file()]
    assert not missing, f"no page for {missing}"
    images = 0
    for page in pages:
        browser.get(page.as_uri())
        assert browser.execute_script("return document.readyState") == "complete"
        assert not browser.execute_script(BROKEN_IMAGES), f"broken image(s) on {page.name}"
        images += browser.execute_script("return document.images.length")
    assert images >= len(ids), "notebook pages should show their figures"

    browser.get((html / "intro.html").as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "simulated default data" in body and "fingerprint" in body and "Main findings" in body
    assert any("figure2_auc_by_split" in src for src in browser.execute_script(
        "return Array.from(document.images).map(i => i.src)")), "the intro shows the headline figure"
    screenshot(browser, "book_intro.png")
    browser.get((html / "notebooks" / "compare.html").as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Table 1" in body and "test day 19, validation day 0" in body and "Test AUC" in body and "Genotype loss" in body
    screenshot(browser, "book_compare.png")
    browser.get((html / "notebooks" / "worlds.html").as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "world G" in body and "world L" in body and "paper's Table 1" in body
    screenshot(browser, "book_worlds.png")
    browser.get((html / "notebooks" / "donors.html").as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "donors per genotype" in body.split("The designs")[0], "the first screen names the answer"
    screenshot(browser, "book_donors.png")
    browser.get((html / "intro.html").as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "The split decides" in body and "Two worlds" in body and "How many donors" in body


def screenshot(browser, name: str) -> None:
    """Save what the browser shows under LMNA_OUTPUTS, for a person to look at."""
    from lmna_scrna.paths import outputs_dir

    path = outputs_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 2400)
    assert browser.save_screenshot(str(path))


def test_pages_show_results_first_and_nothing_from_the_build_machine(smoke: dict[str, Path], browser) -> None:
    """Items 1, 3 and 4 of the book's reading contract, on every page of the smoke book."""
    from selenium.webdriver.common.by import By

    html = smoke["index"].parent
    ids = yaml.safe_load((smoke["outputs"] / "notebooks" / "ledger.json").read_text())["report"]["executions"]
    machine = [str(PROJECT_ROOT), str(smoke["root"]), str(smoke["outputs"])]
    pages = [html / "intro.html", html / "data.html", html / "methods.html", html / "generated" / "provenance.html"]
    for page in pages + [html / "notebooks" / f"{exec_id}.html" for exec_id in ids]:
        browser.get(page.as_uri())
        source, body = browser.page_source, browser.find_element(By.TAG_NAME, "body").text
        # The shipped HTML and the visible text (the live DOM also holds the browser's own file:// URLs, e.g.
        # the fonts MathJax loads from the book's folder, which are where the reader opened it, not the build's).
        shipped = page.read_text(encoding="utf-8")
        assert not [p for p in machine if p in shipped or p in body], f"{page.name} shows an absolute path of the build machine"
        assert "WARNING" not in source and "Traceback" not in source, f"{page.name} shows a library's log or error"
        assert not [n for n in NOISE if n in body], f"{page.name} shows library noise"
        assert not browser.execute_script(BROKEN_IMAGES), f"broken image(s) on {page.name}"
        assert not browser.find_elements(By.CSS_SELECTOR, "table tbody th"), f"index column on {page.name}"
        assert "@jupyter-widgets/html-manager" not in source, f"{page.name} fetches the widget manager from a CDN"
        if page.parent.name != "notebooks":
            continue
        notebook = yaml.safe_load((smoke["outputs"] / "notebooks" / "ledger.json").read_text())["executions"][
            page.stem]["notebook"]
        assert "How this page was made" in body and f"papermill notebooks/{notebook}" in body, page.name
        assert "injected-parameters" not in source and "raw_dir =" not in source, f"parameters shown on {page.name}"
        assert f"{page.stem}.ipynb" in source, f"no download of the executed notebook on {page.name}"
        assert "notebook_logging()" not in body, f"code shown before the results on {page.name}"
    browser.get((html / "methods.html").as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    day_matched = pd.read_csv(smoke["outputs"] / "tables" / "leakage_ladder.csv")["A_auc"].iloc[2]
    inference = pd.read_csv(smoke["outputs"] / "tables" / "gsm_inference.csv")
    pooled = inference[inference["split"] == "pooled leave-one-day-out"].set_index("model").loc["A"]
    prose = " ".join(body.split())
    assert f"{day_matched:.3f}" in prose and f"enumerates {int(pooled['assignments'])} label assignments" in prose, \
        "the methods page cites the run's numbers (glue)"
    browser.get((html / "notebooks" / "train_A_dm_t19_v0.html").as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "-f params/splits/dm_t19_v0.yaml" in body and "-p epochs 4" in body
    assert "Test AUC" in body and "test_auc" not in body and "Run folder: outputs/runs/dm_t19_v0_A" in body
    from selenium.webdriver.support.ui import WebDriverWait

    folded = browser.find_elements(By.CSS_SELECTOR, "details.hide.above-input")
    assert folded, "code inputs are hidden behind a toggle"
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", folded[0])
    folded[0].find_element(By.TAG_NAME, "summary").click()
    WebDriverWait(browser, 10).until(lambda _: folded[0].get_attribute("open") is not None)
    assert "notebook_logging()" in folded[0].get_attribute("textContent"), "the toggle opens on the code"


#: Scripts the page loads from anywhere but the book itself.
REMOTE_SCRIPTS = "return Array.from(document.scripts).map(s => s.src).filter(s => s && !s.startsWith('file:'))"
#: Tables wider than the text column (a table that scrolls sideways hides its right-hand columns).
WIDE_TABLES = ("const column = document.querySelector('article.bd-article') || document.body;"
               "return Array.from(document.querySelectorAll('article table')).filter(t => t.scrollWidth > "
               "column.clientWidth + 2).map(t => (t.querySelector('th') || t).textContent.trim().slice(0, 40))")
#: Headings of a figure section that are not followed by their figure (the next heading or image after each h3).
FIGURE_HEADINGS_OUT_OF_ORDER = (
    "const all = Array.from(document.querySelectorAll('article h3, article img'));"
    "return all.filter((e, i) => e.tagName === 'H3' && (!all[i + 1] || all[i + 1].tagName !== 'IMG'))"
    ".map(e => e.textContent.trim())")
#: The text of every cell output of a page (its code, folded away, may well name the classes).
OUTPUT_TEXT = "return Array.from(document.querySelectorAll('.cell_output')).map(e => e.textContent).join('\\n')"
#: A figure cited by number that is not the paper's ("Fig. 1" on one page, "Figure 2" on another for the same one).
OWN_FIGURE_NUMBER = re.compile(r"(?<!paper’s )(?<!paper's )\bFig(?:ure|\.)\s*\d")
#: What an object's repr looks like on a page: no page shows one.
REPRS = ("AnnData object", "obs: '", "TrainConfig(", "PrepParams(", "Split(name=", "<lmna_scrna.")


def test_book_reads_in_words_offline_and_fits_the_column(smoke: dict[str, Path], browser) -> None:
    """Issue 18: names in words in titles and navigation, no reprs, tables that fit, no remote script, figures in order,
    figures named rather than numbered, the pages of a split in the split's order."""
    from selenium.webdriver.common.by import By

    from lmna_scrna.io.study import load_samples
    from lmna_scrna.pp.splits import scheme_splits
    from lmna_scrna.report.names import PAGE_STEMS, split_order, split_words
    from lmna_scrna.report.runner.param_files import split_files

    html = smoke["index"].parent
    ids = yaml.safe_load((smoke["outputs"] / "notebooks" / "ledger.json").read_text())["report"]["executions"]
    known = [*split_files(), *(s.name for s in scheme_splits(load_samples()))]
    code_names = [n for n in [*known, *ids] if "_" in n]  # "original", "compare": words as well as names
    pages = [html / "intro.html", html / "data.html", html / "methods.html", html / "generated" / "provenance.html"]
    for page in pages + [html / "notebooks" / f"{exec_id}.html" for exec_id in ids]:
        browser.get(page.as_uri())
        title = browser.find_element(By.TAG_NAME, "h1").text
        navigation = browser.find_element(By.CSS_SELECTOR, "nav.bd-docs-nav").text
        assert not [n for n in code_names if n in title], f"{page.name}: code name in the title {title!r}"
        assert not [n for n in code_names if n in navigation], f"{page.name}: code name in the navigation"
        outputs = browser.execute_script(OUTPUT_TEXT)
        assert not [r for r in REPRS if r in outputs], f"{page.name} shows an object's repr"
        assert not browser.execute_script(REMOTE_SCRIPTS), f"{page.name} loads a remote script"
        assert not browser.execute_script(WIDE_TABLES), f"{page.name}: tables wider than the column"
        assert not browser.find_elements(By.CSS_SELECTOR, ".caption-number"), f"{page.name}: a numbered figure or table"
        article = browser.find_element(By.TAG_NAME, "article").text
        assert not OWN_FIGURE_NUMBER.findall(article), f"{page.name}: a figure cited by a number of the book's own"
        if page.stem.startswith(("train_", "sweep_")):
            assert browser.find_elements(By.CSS_SELECTOR, "article h3"), f"{page.name}: no figure headings"
            assert not browser.execute_script(FIGURE_HEADINGS_OUT_OF_ORDER), f"{page.name}: a heading without its figure"
    ledger = yaml.safe_load((smoke["outputs"] / "notebooks" / "ledger.json").read_text())["executions"]
    stem = PAGE_STEMS["03_train_A.ipynb"]
    splits = sorted((ledger[i]["split"] for i in ids if i.startswith("train_A_")), key=split_order)
    browser.get((html / "intro.html").as_uri())
    navigation = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "nav.bd-docs-nav a")]
    assert [t for t in navigation if t.startswith(f"{stem} — ")] == [f"{stem} — {split_words(s)}" for s in splits], \
        "Model A's pages in the splits' order: original, then by held-out day, cells at random last"
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get((html / "methods.html").as_uri())  # typeset by the book's own MathJax, no network
    WebDriverWait(browser, 20).until(lambda b: b.execute_script("return document.querySelectorAll('mjx-container').length"))


#: A page's prose: its article without code, math or hidden inputs (a code cell may well name a variable).
PROSE = ("const a = document.querySelector('article').cloneNode(true);"
         "a.querySelectorAll('pre, code, script, style, .cell_input, details.hide, mjx-container, .math')"
         ".forEach(e => e.remove()); return a.textContent")
#: A code name in prose: snake_case or SCREAMING_CASE, not part of a path or a file name.
CODE_NAME = re.compile(r"(?<![\w/.\-])[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+(?![\w/.])")
#: A number written with the hyphen instead of the book's minus sign.
HYPHEN_MINUS = re.compile(r"(?<![\w.)\]])-\d")


def prose_problems(text: str, names: bool = True) -> list[str]:
    """What a reader should never meet in a page's prose: code names, "(s)", a hyphen for a minus sign.

    ``names=False`` for the provenance page, whose tables list packages, CPU flags and executions by name."""
    problems = [f"code name {m!r}" for m in CODE_NAME.findall(text)] if names else []
    problems += [f"'(s)' in {m!r}" for m in re.findall(r"\w+\(s\)", text)]
    problems += [f"hyphen minus in {text[max(m.start() - 20, 0):m.end() + 8]!r}" for m in HYPHEN_MINUS.finditer(text)]
    return problems


def test_prose_problems_are_found() -> None:
    """The page check itself: each kind of problem the issue names is caught, clean prose passes."""
    assert prose_problems("fold dm_t19_v0 of patient_iPSC and LINE_LOG_SD") == [
        "code name 'dm_t19_v0'", "code name 'patient_iPSC'", "code name 'LINE_LOG_SD'"]
    assert prose_problems("1 training seed(s)") == ["'(s)' in 'seed(s)'"]
    assert prose_problems("mean difference -0.019 (95% interval -0.05 to +0.01)")[0].startswith("hyphen minus")
    assert not prose_problems("−0.019 on 2026-01-01, outputs/tables/gsm_level.csv, day-matched, 10⁻⁴, GSE269705")


def test_pages_have_no_code_names_mixed_signs_or_unresolved_citations(smoke: dict[str, Path], browser) -> None:
    """Issue 26: prose free of code names, "(s)" and hyphen minus signs on every page; every {cite} resolved;
    every glued verdict word on the page that pastes it, as its check decided it."""
    from selenium.webdriver.common.by import By

    from lmna_scrna.report.book.claim_check import glued_values

    html = smoke["index"].parent
    ids = yaml.safe_load((smoke["outputs"] / "notebooks" / "ledger.json").read_text())["report"]["executions"]
    pages = [html / f"{p}.html" for p in ("intro", "data", "methods", "references")]
    pages += [html / "generated" / "provenance.html", *(html / "notebooks" / f"{i}.html" for i in ids)]
    found = {}
    for page in pages:
        browser.get(page.as_uri())
        text = browser.execute_script(PROSE)
        found[page.name] = prose_problems(text, names=page.stem != "provenance")
        assert "?]" not in text and "[?" not in text, f"{page.name}: an unresolved citation"
    assert not {k: v for k, v in found.items() if v}, found
    browser.get((html / "references.html").as_uri())
    references = browser.find_element(By.TAG_NAME, "article").text
    for author in ("Karpe", "Zaragoza", "Kilpinen", "Squair", "Clopper", "Wolf", "Abadi"):
        assert author in references, f"{author} missing from the reference list"
    browser.get((html / "intro.html").as_uri())
    intro = " ".join(browser.find_element(By.TAG_NAME, "article").text.split())
    compare = glued_values(nbformat.read(smoke["outputs"] / "notebooks" / "compare.ipynb", as_version=4))
    claims = yaml.safe_load(compare["claims"])
    for key in ("original_inverted", "b_vs_a_verdict", "a_vs_logreg_verdict", "calls_A"):
        assert claims[key]["word"] in intro, f"the intro does not state {key} as its check decided it"
    assert "Single-cell RNA-seq classification of LMNA-related patient/control status" in intro, "the paper by its title"
    screenshot(browser, "book_intro_first_screen.png")


def test_a_forced_claim_stops_the_build_and_keeps_the_last_book(smoke: dict[str, Path], tmp_path: Path) -> None:
    """Force one check to fail: the executed comparison page states the opposite of its original-split verdict.
    `lmna-scrna book` refuses before Jupyter Book runs, naming the claim, and the last good book stays as it was."""
    outputs = tmp_path / "outputs"
    shutil.copytree(smoke["outputs"], outputs, ignore=shutil.ignore_patterns("cache", "data"))  # not read by a build
    index = outputs / smoke["index"].relative_to(smoke["outputs"])
    before = index.read_bytes()
    path = outputs / "notebooks" / "compare.ipynb"
    nb = nbformat.read(path, as_version=4)
    flipped = {"inverted (below 0.5)": "not inverted (above 0.5)", "not inverted (above 0.5)": "inverted (below 0.5)"}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook", {})
            if scrap.get("name") == "original_inverted":
                key = f"{scrap.get('mime_prefix', '')}text/plain"
                output["data"][key] = repr(flipped[eval(output["data"][key])])  # noqa: S307 (a repr glue wrote)
    nbformat.write(nb, path)
    env = {**os.environ, "LMNA_OUTPUTS": str(outputs)}
    result = subprocess.run([sys.executable, "-m", "lmna_scrna.cli", "book"], env=env, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "original_inverted" in result.stderr and "its check 'inverted' gives" in result.stderr
    assert index.read_bytes() == before, "a sentence whose check fails is never rendered: the last book is kept"
