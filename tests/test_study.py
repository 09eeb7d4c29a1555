"""The study sheet: validation names the row and the problem; labels follow the design."""

from __future__ import annotations

import pytest

from lmna_scrna.errors import InputError
from lmna_scrna.io.study import DAYS, days_with_both_genotypes, load_samples

GOOD = """gsm,condition,day,replicate
GSM1,Control,0,A
GSM2,Patient,0,A
GSM3,Control,9,B
"""


def write_sheet(tmp_path, text: str):
    path = tmp_path / "samples.csv"
    path.write_text(text)
    return path


def test_project_sheet_has_the_twelve_gsms_and_their_labels(sheet):
    assert len(sheet) == 12 and sheet["gsm"].is_unique
    assert list(sheet.columns) == ["gsm", "condition", "day", "replicate", "y_geno", "y_day"]
    assert set(sheet.loc[sheet["condition"] == "Patient", "y_geno"]) == {1}
    assert set(sheet.loc[sheet["condition"] == "Control", "y_geno"]) == {0}
    assert (sheet["y_day"] == sheet["day"].map(DAYS.index)).all()
    row = sheet.set_index("gsm").loc["GSM8325055"]
    assert (row["condition"], row["day"], row["replicate"], row["y_day"]) == ("Patient", 9, "B", 3)


def test_days_with_both_genotypes(sheet):
    assert days_with_both_genotypes(sheet) == [0, 9, 16, 19]


def test_valid_sheet_loads_with_int_days(tmp_path):
    sheet = load_samples(write_sheet(tmp_path, GOOD))
    assert sheet["day"].tolist() == [0, 0, 9]
    assert sheet["y_geno"].tolist() == [0, 1, 0] and sheet["y_day"].tolist() == [0, 0, 3]


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("GSM2,Control,2,A", r"row 4: duplicate GSM GSM2 \(first on row 2\)"),
        ("GSM4,Carrier,2,A", r"row 4 \(GSM4\): unknown condition 'Carrier'"),
        ("GSM4,Control,5,A", r"row 4 \(GSM4\): day '5' is not one of 0, 2, 4, 9, 16, 19, 30"),
        ("GSM4,Control,day9,A", r"row 4 \(GSM4\): day 'day9'"),
        (",Control,9,A", r"row 4: empty gsm"),
    ],
    ids=["duplicate", "condition", "day", "day-not-a-number", "empty-gsm"],
)
def test_bad_row_is_named(tmp_path, bad_row, message):
    path = write_sheet(tmp_path, GOOD + bad_row + "\n")
    with pytest.raises(InputError, match=message) as err:
        load_samples(path)
    assert str(path) in str(err.value)


def test_every_bad_row_is_reported_at_once(tmp_path):
    path = write_sheet(tmp_path, GOOD + "GSM1,Control,0,A\nGSM5,Other,3,A\n")
    with pytest.raises(InputError) as err:
        load_samples(path)
    assert all(f in str(err.value) for f in ("row 4: duplicate", "row 5 (GSM5): unknown condition", "row 5 (GSM5): day"))


def test_missing_column_is_named(tmp_path):
    path = write_sheet(tmp_path, "gsm,condition,replicate\nGSM1,Control,A\n")
    with pytest.raises(InputError, match="lacks column.*day"):
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
