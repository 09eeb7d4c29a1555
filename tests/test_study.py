"""The study sheet: validation names the row and the problem; labels follow the design."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from lmna_scrna.errors import InputError
from lmna_scrna.io.study import DAYS, UNKNOWN_LINE, days_with_both_genotypes, load_samples
from lmna_scrna.paths import PROJECT_ROOT

GOOD = """gsm,condition,day,replicate,donor,line
GSM1,Control,0,A,sister,unknown
GSM2,Patient,0,A,patient,patient_iPSC
GSM3,Control,9,B,sister,unknown
"""


def write_sheet(tmp_path, text: str):
    path = tmp_path / "samples.csv"
    path.write_text(text)
    return path


def test_project_sheet_has_the_twelve_gsms_and_their_labels(sheet):
    assert len(sheet) == 12 and sheet["gsm"].is_unique
    assert list(sheet.columns) == ["gsm", "condition", "day", "replicate", "donor", "line", "y_geno", "y_day"]
    assert set(sheet.loc[sheet["condition"] == "Patient", "y_geno"]) == {1}
    assert set(sheet.loc[sheet["condition"] == "Control", "y_geno"]) == {0}
    assert (sheet["y_day"] == sheet["day"].map(DAYS.index)).all()
    row = sheet.set_index("gsm").loc["GSM8325055"]
    assert (row["condition"], row["day"], row["replicate"], row["y_day"]) == ("Patient", 9, "B", 3)


def test_project_sheet_has_two_donors_and_one_named_patient_line(sheet):
    """Zaragoza et al. 2024: one patient line (all 4 patient libraries), the sister's lines unassigned."""
    by_condition = sheet.groupby("condition")[["donor", "line"]].agg(set)
    assert by_condition.loc["Patient"].tolist() == [{"patient"}, {"patient_iPSC"}]
    assert by_condition.loc["Control"].tolist() == [{"sister"}, {UNKNOWN_LINE}]
    assert (sheet["condition"] == "Patient").sum() == 4 and (sheet["condition"] == "Control").sum() == 8


def test_data_page_shows_the_sheet_and_cites_the_source(sheet):
    """The data page's sheet table is the sheet itself, donor and line included, with the paper's doi."""
    page = (PROJECT_ROOT / "book" / "data.md").read_text()
    rows = [line.strip("|").split("|") for line in page.splitlines() if re.match(r"\| GSM\d", line)]
    shown = pd.DataFrame([[c.strip() for c in r] for r in rows], columns=["gsm", "condition", "day", "replicate", "donor", "line"])
    in_words = {"patient_iPSC": "the patient's line"}  # the sheet's one named line, in words on the page
    expected = sheet[shown.columns].astype(str).replace({"line": in_words}).reset_index(drop=True)
    pd.testing.assert_frame_equal(shown, expected)
    assert "10.3390/cells13171479" in page


def test_days_with_both_genotypes(sheet):
    assert days_with_both_genotypes(sheet) == [0, 9, 16, 19]


def test_valid_sheet_loads_with_int_days(tmp_path):
    sheet = load_samples(write_sheet(tmp_path, GOOD))
    assert sheet["day"].tolist() == [0, 0, 9]
    assert sheet["y_geno"].tolist() == [0, 1, 0] and sheet["y_day"].tolist() == [0, 0, 3]


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("GSM2,Control,2,A,sister,unknown", r"row 4: duplicate GSM GSM2 \(first on row 2\)"),
        ("GSM4,Carrier,2,A,sister,unknown", r"row 4 \(GSM4\): unknown condition 'Carrier'"),
        ("GSM4,Control,5,A,sister,unknown", r"row 4 \(GSM4\): day '5' is not one of 0, 2, 4, 9, 16, 19, 30"),
        ("GSM4,Control,day9,A,sister,unknown", r"row 4 \(GSM4\): day 'day9'"),
        (",Control,9,A,sister,unknown", r"row 4: empty gsm"),
        ("GSM4,Control,9,A,,unknown", r"row 4 \(GSM4\): empty donor"),
        ("GSM4,Control,9,A,sister,", r"row 4 \(GSM4\): empty line \(write 'unknown'"),
        ("GSM4,Control,9,A,patient,unknown", r"row 4 \(GSM4\): donor 'patient' is Control here but Patient on row 2"),
        ("GSM4,Control,9,A,sister,patient_iPSC",
         r"row 4 \(GSM4\): line 'patient_iPSC' is from donor 'sister' here but 'patient' on row 2"),
        ("GSM4,Patient,9,B,patient,unknown", r"row 4 \(GSM4\): a patient library's line must be named, not 'unknown'"),
        ("GSM4,Patient,9,B,patient,patient_iPSC_2",
         r"row 4 \(GSM4\): patient line 'patient_iPSC_2', but 'patient_iPSC' on row 2 \(the study has one patient line\)"),
    ],
    ids=["duplicate", "condition", "day", "day-not-a-number", "empty-gsm", "empty-donor", "empty-line",
         "donor-two-genotypes", "line-two-donors", "patient-line-unknown", "two-patient-lines"],
)
def test_bad_row_is_named(tmp_path, bad_row, message):
    path = write_sheet(tmp_path, GOOD + bad_row + "\n")
    with pytest.raises(InputError, match=message) as err:
        load_samples(path)
    assert str(path) in str(err.value)


def test_every_bad_row_is_reported_at_once(tmp_path):
    path = write_sheet(tmp_path, GOOD + "GSM1,Control,0,A,sister,unknown\nGSM5,Other,3,A,sister,\n")
    with pytest.raises(InputError) as err:
        load_samples(path)
    assert all(f in str(err.value) for f in ("row 4: duplicate", "row 5 (GSM5): unknown condition", "row 5 (GSM5): day",
                                             "row 5 (GSM5): empty line"))


def test_missing_column_is_named(tmp_path):
    path = write_sheet(tmp_path, "gsm,condition,replicate\nGSM1,Control,A\n")
    with pytest.raises(InputError, match="lacks column.*day, donor, line"):
        load_samples(path)


def test_missing_sheet_is_named(tmp_path):
    with pytest.raises(InputError, match="nope.csv does not exist"):
        load_samples(tmp_path / "nope.csv")


def test_header_with_spaces_after_commas_is_read(tmp_path):
    spaced = GOOD.replace("gsm,condition,day,replicate", "gsm, condition, day, replicate")
    assert load_samples(write_sheet(tmp_path, spaced))["condition"].tolist() == ["Control", "Patient", "Control"]


def test_folder_given_for_the_sheet_says_so(tmp_path):
    with pytest.raises(InputError, match=f"sample sheet {tmp_path} is a folder, not a file"):
        load_samples(tmp_path)


SHEET_HEADER = "gsm,condition,day,replicate,donor,line\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "has a header but no rows"),
        ("GSM1,Control,0,A,d,unknown\nSRR5,Control,0,A,d,unknown\n", r"row 2: gsm 'SRR5' is not a GEO sample accession"),
        ("GSM1,Control,0,A,d,unknown\nGSM12x,Control,0,A,d,unknown\n", r"row 2: gsm 'GSM12x'"),
        ("GSM1,Control,0,A,d,unknown\nGSM2,Control,0,,d,unknown\n", r"row 2 \(GSM2\): empty replicate"),
    ],
    ids=["no-rows", "not-gsm", "gsm-suffix", "empty-replicate"],
)
def test_bad_sheet_is_named(tmp_path, body, message):
    path = tmp_path / "samples.csv"
    path.write_text(SHEET_HEADER + body)
    with pytest.raises(InputError, match=message) as err:
        load_samples(path)
    assert str(path) in str(err.value)

