"""The high blood-pressure alarm at its boundaries."""

from __future__ import annotations

import pytest

from tests.engine.helpers import Clinic, events


@pytest.mark.parametrize(
    ("sys", "dia", "priority", "message"),
    [
        (179, 80, "medium", "SYS 179 >= 160 mmHg"),
        (180, 80, "high", "SYS 180 >= 180 mmHg"),
        (186, 80, "high", "SYS 186 >= 180 mmHg"),
        (150, 109, "medium", "DIA 109 >= 100 mmHg"),
        (150, 110, "high", "DIA 110 >= 110 mmHg"),
        (159, 99, None, None),
    ],
)
def test_bp_high_boundaries(sys: int, dia: int, priority: str | None, message: str | None) -> None:
    c = Clinic()
    c.start()
    c.bp(120, 80)
    c.dose()
    out = c.bp(sys, dia)
    raised = events(out, "bp_high", "raised")
    if priority is None:
        assert raised == []
        assert c.alarm("bp_high") is None
        return
    (event,) = raised
    assert event.priority == priority
    assert event.message == message
    assert event.kind == "physiological"
    alarm = c.alarm("bp_high")
    assert alarm.priority == priority
    assert alarm.message == message
