"""docs/device-codes.md names every code, alias and unit the codecs read (the table in
``drivers.protocols.codes``), so the page and the code cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.protocols import codes

DOC = (Path(__file__).resolve().parents[2] / "docs" / "device-codes.md").read_text()

NAMES = sorted(
    {c.code for c in codes.MDC_CODES}
    | {name for c in codes.MDC_CODES for name in c.names()}
    | {code for q in codes.QUANTITIES.values() for code, _ in q.loinc}
    | set(codes.UNITS_MDC)
    | {refid for refid, _ in codes.UNITS_MDC.values()}
    | set(codes.UNITS_UCUM)
)


@pytest.mark.parametrize("name", NAMES)
def test_the_page_names_it(name: str) -> None:
    assert name in DOC


@pytest.mark.parametrize("text", sorted(codes.UNITS_TEXT))
def test_the_page_names_unit_text(text: str) -> None:
    assert text in DOC.lower()  # read case-insensitively


def test_every_mdc_code_has_a_row_with_its_source() -> None:
    for code in codes.MDC_CODES:
        row = next((line for line in DOC.splitlines() if line.startswith(f"| {code.code} |")),
                   None)
        assert row is not None, code.code
        source = row.rstrip().rstrip("|").rsplit(" | ", 1)[-1]
        assert code.refid in row and len(source.strip()) >= 8, row
