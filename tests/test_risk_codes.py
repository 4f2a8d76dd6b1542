"""The code table of the plan's findings: one source of truth, shown as-is in the README."""

from __future__ import annotations

import re

import pytest

from api.config import PROJECT_ROOT
from api.service.risk import CODES, alembic_finding, codes_markdown

SECTION = re.compile(r"^### What a plan finds\n(.*?)^#", re.S | re.M)


def readme_table() -> str:
    section = SECTION.search((PROJECT_ROOT / "README.md").read_text())
    assert section, "README.md has no '### What a plan finds' section"
    return "".join(line + "\n" for line in section[1].splitlines() if line.startswith("|"))


def test_the_readme_lists_exactly_the_codes_of_the_table():
    assert readme_table() == codes_markdown()
    listed = re.findall(r"^\| ([A-Z]{2}\d{3}) \|", readme_table(), re.M)
    assert listed == list(CODES)


def test_the_table_follows_what_a_plan_is():
    headings = re.findall(r"^#+ .*$", (PROJECT_ROOT / "README.md").read_text(), re.M)
    at = headings.index("### What a plan finds")
    assert headings[at - 1] == "### Plans: what a change destroys, before it runs"


def test_every_code_says_how_bad_and_only_ds_codes_destroy_data():
    for code in CODES.values():
        assert re.fullmatch(r"(DS|BC|MF|PG|MY|AL)\d{3}", code.code)
        assert code.severity in ("error", "warning", "info")
        assert code.data_loss == code.code.startswith("DS")


@pytest.mark.parametrize(
    ("code", "severity"), [("AL101", "warning"), ("AL102", "error"), ("AL103", "warning")]
)
def test_alembic_findings_take_their_severity_from_the_table(code, severity):
    finding = alembic_finding(code, "Its downgrade() is only pass.")
    assert (finding.code, finding.severity, finding.loss) == (code, severity, None)
    assert finding.detail == "Its downgrade() is only pass."


@pytest.mark.parametrize("code", ["DS102", "AL999", "al101"])
def test_alembic_finding_refuses_a_code_that_is_not_an_alembic_one(code):
    with pytest.raises(ValueError, match=code):
        alembic_finding(code, "x.")
