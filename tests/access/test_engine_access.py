"""The engine takes the sender from the topic and the role from the directory."""

from __future__ import annotations

from drivers.wire import CommandResult, Discharge, PauseAudio, StartSession
from tests.engine.helpers import Clinic

ROLES = {"ana": "nurse", "dr-lee": "physician", "qa1": "qa", "wall": "display"}


def _answer(outputs: list[object]) -> CommandResult:
    return next(o for o in outputs if isinstance(o, CommandResult))


def _send(clinic: Clinic, cls: type, sender: str | None, **kw: object) -> CommandResult:
    kw.setdefault("id", clinic.next_id("c"))
    kw.setdefault("at", clinic.now)
    kw.setdefault("by", sender or "nurse")
    out = clinic.engine.handle(clinic.chair, cls(**kw), clinic.now, sender)
    clinic.outputs += out
    return _answer(out)


def _signed_in_site() -> Clinic:
    clinic = Clinic()
    clinic.engine.roles = dict(ROLES)  # type: ignore[arg-type]
    return clinic


def test_a_nurse_may_start_a_session_and_the_answer_names_her_and_her_role() -> None:
    clinic = _signed_in_site()
    result = _send(clinic, StartSession, "ana", patient_code="P1", protocol="spravato")
    assert result.accepted
    assert (result.by, result.role) == ("ana", "nurse")


def test_a_forged_by_is_refused_and_changes_nothing() -> None:
    clinic = _signed_in_site()
    result = _send(clinic, StartSession, "ana", by="dr-lee", patient_code="P1",
                   protocol="spravato")
    assert not result.accepted
    assert "claims to be by 'dr-lee' but was sent by 'ana'" in result.reasons[0]
    assert result.by == "ana"
    assert clinic.engine.states(clinic.now)[0].session is None


def test_the_revision_1_topic_is_refused_on_a_site_with_sign_in() -> None:
    clinic = _signed_in_site()
    result = _send(clinic, StartSession, None, by="ana", patient_code="P1", protocol="spravato")
    assert not result.accepted
    assert "own topic" in result.reasons[0]


def test_an_unknown_or_disabled_user_is_refused() -> None:
    clinic = _signed_in_site()
    result = _send(clinic, PauseAudio, "mallory", seconds=60)
    assert not result.accepted
    assert result.reasons == ["'mallory' is not an enabled user of this site"]
    assert result.role is None


def test_qa_and_a_display_may_send_nothing() -> None:
    clinic = _signed_in_site()
    for user in ("qa1", "wall"):
        result = _send(clinic, PauseAudio, user, seconds=60)
        assert not result.accepted
        assert result.reasons[0].startswith(f"{user} ({ROLES[user]}) may not send pause audio")


def _ready_to_be_refused(clinic: Clinic) -> None:
    """An open Spravato session a few minutes after the dose: discharge is not yet allowed."""
    assert _send(clinic, StartSession, "ana", patient_code="P1", protocol="spravato").accepted
    from drivers.wire import DoseGiven
    assert _send(clinic, DoseGiven, "ana").accepted
    clinic.advance(minutes=5)


def test_a_nurse_cannot_override_a_discharge_even_calling_herself_a_physician() -> None:
    clinic = _signed_in_site()
    _ready_to_be_refused(clinic)
    result = _send(clinic, Discharge, "ana", override_reason="transport waiting")
    assert not result.accepted
    assert "'ana' (nurse) may not override" in result.reasons[-1]
    forged = _send(clinic, Discharge, "ana", by="physician:ana",
                   override_reason="transport waiting")
    assert not forged.accepted
    assert clinic.engine.states(clinic.now)[0].session.phase != "discharged"  # type: ignore[union-attr]


def test_a_physician_may_override_and_is_named_as_discharging() -> None:
    clinic = _signed_in_site()
    _ready_to_be_refused(clinic)
    result = _send(clinic, Discharge, "dr-lee", override_reason="transfer to the ED")
    assert result.accepted, result.reasons
    session = clinic.engine.states(clinic.now)[0].session
    assert session is not None and session.discharged_by == "dr-lee"


def test_without_a_directory_by_is_believed_but_must_match_a_named_sender() -> None:
    clinic = Clinic()
    assert _send(clinic, StartSession, None, by="nurse", patient_code="P1",
                 protocol="spravato").accepted
    mismatch = _send(clinic, PauseAudio, "ana", by="physician", seconds=30)
    assert not mismatch.accepted
