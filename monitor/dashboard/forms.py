"""The forms that build commands. Each one validates its input with the wire model itself, so
nothing is sent that the engine would reject as malformed, and every problem is shown in the
form next to the field's name until it is put right (or the form is cancelled)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from pydantic import ValidationError
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, SelectionList, Static

from drivers.wire import (
    Assessment,
    CommandBase,
    Discharge,
    DoseGiven,
    EndSession,
    InfusionEnd,
    ManualBp,
    StartSession,
    Symptoms,
)

CONCOMITANT: tuple[tuple[str, str], ...] = (
    ("benzodiazepine", "benzodiazepine"),
    ("non-benzodiazepine sedative hypnotic", "non_benzodiazepine_sedative_hypnotic"),
    ("psychostimulant", "psychostimulant"),
    ("MAOI", "maoi"),
    ("opioid", "opioid"),
)
ALDRETE_ITEMS: tuple[tuple[str, str, tuple[str, str, str]], ...] = (
    ("activity", "Activity", ("0 moves no limbs", "1 moves 2 limbs", "2 moves 4 limbs")),
    ("respiration", "Respiration",
     ("0 apnoea", "1 dyspnoea or shallow", "2 breathes deeply, coughs")),
    ("circulation", "Circulation",
     ("0 BP beyond ±50 mmHg", "1 BP ±20-50 mmHg", "2 BP within ±20 mmHg")),
    ("consciousness", "Consciousness", ("0 unresponsive", "1 rousable", "2 fully awake")),
    ("spo2", "SpO2", ("0 < 90% even with O2", "1 needs O2 for > 90%", "2 > 92% on room air")),
)


def describe_errors(exc: ValidationError, labels: dict[str, str]) -> list[tuple[str, str]]:
    """(field, message) per problem, named as the form names them."""
    out: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        field = loc[0] if loc else ""
        name = " ".join(labels.get(p, p) for p in loc) or "form"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch" and field == "patient_code":
            message = "use 1-32 letters, digits, - or _ (a pseudonymous code, never a name)"
        elif err["type"] == "missing":
            message = "required"
        out.append((field, f"{name}: {message}"))
    return out


class CommandForm(ModalScreen[CommandBase | None]):
    """Fields on a grid, the problems under them, Send and Cancel. Enter in a field or
    ctrl+s sends; escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Send"),
    ]

    MODEL: ClassVar[type[CommandBase]]
    TITLE: ClassVar[str] = ""
    SEND: ClassVar[str] = "Send"
    LABELS: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        chair: str,
        by: str,
        now: Callable[[], datetime],
        *,
        intro: Text | str | None = None,
        blink: bool = True,
    ) -> None:
        super().__init__()
        self.chair = chair
        self.by = by
        self.now = now
        self.intro = intro
        self.blink = blink
        self.problems: list[str] = []
        self.send_label = self.SEND

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Static(f"{self.TITLE} · {self.chair}", id="form-title")
            if self.intro:
                yield Static(self.intro, id="form-intro")
            with Grid(id="fields"):
                yield from self.fields()
            yield Static("", id="form-errors")
            with Horizontal(id="form-buttons"):
                yield Button(self.send_label, variant="primary", id="send", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = self.blink
        focusable = [w for w in self.query("#fields > *") if w.focusable]
        (focusable[0] if focusable else self.query_one("#send", Button)).focus()

    def fields(self) -> Iterable[Widget]:
        return ()

    def values(self) -> dict[str, Any]:
        """The fields as the model's keys; an empty field is left out."""
        return {}

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        """Rules of the form beyond the model's (none by default)."""
        return []

    # -- helpers ------------------------------------------------------------------------

    def text(self, name: str) -> str | None:
        value = self.query_one(f"#{name}", Input).value.strip()
        return value or None

    def choice(self, name: str) -> Any:
        value = self.query_one(f"#{name}", Select).value
        return None if value is Select.NULL else value

    @staticmethod
    def label(name: str, text: str) -> Label:
        return Label(text, id=f"label-{name}")

    @staticmethod
    def entry(name: str, placeholder: str = "", value: str = "") -> Input:
        return Input(value=value, placeholder=placeholder, id=name, compact=True)

    # -- actions ------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "send":
            self.action_submit()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        command = self.build()
        if command is not None:
            self.dismiss(command)

    def build(self) -> CommandBase | None:
        """The validated command, or None with the problems shown."""
        for widget in self.query(".error"):
            widget.remove_class("error")
        values = {k: v for k, v in self.values().items() if v is not None}
        problems = self.check(values)
        command: CommandBase | None = None
        if not problems:
            try:
                command = self.MODEL.model_validate(
                    {**values, "at": self.now(), "by": self.by}
                )
            except ValidationError as exc:
                problems = describe_errors(exc, {**self.LABELS, "by": "By"})
        self.problems = [message for _, message in problems]
        errors = self.query_one("#form-errors", Static)
        errors.update("\n".join(self.problems))
        for field, _ in problems:
            found = self.query(f"#{field}") if field else None
            if found:
                found.first().add_class("error")
        return command


class StartSessionForm(CommandForm):
    MODEL = StartSession
    TITLE = "Start a session"
    SEND = "Start"
    LABELS: ClassVar[dict[str, str]] = {
        "patient_code": "Patient code", "protocol": "Protocol", "dose_mg": "Dose (mg)",
        "lot": "Lot", "concomitant": "Concomitant",
    }

    def __init__(self, chair: str, by: str, now: Callable[[], datetime],
                 protocols: Sequence[str], **kwargs: Any) -> None:
        super().__init__(chair, by, now, **kwargs)
        self.protocols = list(protocols)

    def fields(self) -> Iterable[Widget]:
        yield self.label("patient_code", "Patient code")
        yield self.entry("patient_code", "pseudonymous code, never a name")
        yield self.label("protocol", "Protocol")
        yield Select([(p, p) for p in self.protocols], id="protocol", allow_blank=False,
                     compact=True)
        yield self.label("dose_mg", "Dose (mg)")
        yield self.entry("dose_mg", "e.g. 56 or 84 (optional)")
        yield self.label("lot", "Lot")
        yield self.entry("lot", "optional")
        yield self.label("concomitant", "Concomitant")
        yield SelectionList[str](*CONCOMITANT, id="concomitant", compact=True)

    def values(self) -> dict[str, Any]:
        return {
            "patient_code": self.text("patient_code"),
            "protocol": self.choice("protocol"),
            "dose_mg": self.text("dose_mg"),
            "lot": self.text("lot"),
            "concomitant": list(self.query_one("#concomitant", SelectionList).selected),
        }


class DoseForm(CommandForm):
    MODEL = DoseGiven
    TITLE = "Dose given"
    SEND = "Record dose"
    LABELS: ClassVar[dict[str, str]] = {"detail": "Detail", "dose_mg": "Dose (mg)"}

    def __init__(self, chair: str, by: str, now: Callable[[], datetime], detail: str = "",
                 **kwargs: Any) -> None:
        super().__init__(chair, by, now, **kwargs)
        self.detail = detail

    def fields(self) -> Iterable[Widget]:
        yield self.label("detail", "Detail")
        yield self.entry("detail", "e.g. nasal device 1", value=self.detail)
        yield self.label("dose_mg", "Dose (mg)")
        yield self.entry("dose_mg", "only if not given at the start")

    def values(self) -> dict[str, Any]:
        return {"detail": self.text("detail"), "dose_mg": self.text("dose_mg")}


class InfusionEndForm(CommandForm):
    MODEL = InfusionEnd
    TITLE = "Infusion end"
    SEND = "Record the end"


class ManualBpForm(CommandForm):
    MODEL = ManualBp
    TITLE = "Manual blood pressure"
    SEND = "Record BP"
    LABELS: ClassVar[dict[str, str]] = {
        "systolic": "Systolic", "diastolic": "Diastolic", "pulse": "Pulse",
    }

    def fields(self) -> Iterable[Widget]:
        yield self.label("systolic", "Systolic (mmHg)")
        yield self.entry("systolic", "40-300")
        yield self.label("diastolic", "Diastolic (mmHg)")
        yield self.entry("diastolic", "20-200, below systolic")
        yield self.label("pulse", "Pulse (/min)")
        yield self.entry("pulse", "optional")

    def values(self) -> dict[str, Any]:
        return {name: self.text(name) for name in ("systolic", "diastolic", "pulse")}


class AssessmentForm(CommandForm):
    MODEL = Assessment
    TITLE = "Sedation and dissociation assessment"
    SEND = "Record assessment"
    LABELS: ClassVar[dict[str, str]] = {
        "sedation": "Sedation", "dissociation": "Dissociation", "respiration": "Respiration",
        "moaas": "MOAA/S", "note": "Note", "aldrete": "Aldrete",
        **{key: label for key, label, _ in ALDRETE_ITEMS},
    }

    def fields(self) -> Iterable[Widget]:
        for name, label, options in (
            ("sedation", "Sedation", ("none", "present")),
            ("dissociation", "Dissociation", ("none", "present")),
            ("respiration", "Respiration", ("normal", "depressed")),
        ):
            yield self.label(name, label)
            yield Select([(o, o) for o in options], id=name, prompt="choose", compact=True)
        yield self.label("moaas", "MOAA/S (opt.)")
        yield Select(
            [(f"{n}{' alert' if n == 5 else ''}", n) for n in range(5, -1, -1)],
            id="moaas", prompt="not scored", compact=True,
        )
        for name, label, choices in ALDRETE_ITEMS:
            yield self.label(f"aldrete-{name}", f"Aldrete {label}")
            yield Select(
                [(text, i) for i, text in enumerate(choices)],
                id=f"aldrete-{name}", prompt="not scored", compact=True,
            )
        yield self.label("note", "Note")
        yield self.entry("note", "optional")

    def values(self) -> dict[str, Any]:
        aldrete = {
            name: self.choice(f"aldrete-{name}") for name, _, _ in ALDRETE_ITEMS
        }
        given = {k: v for k, v in aldrete.items() if v is not None}
        return {
            "sedation": self.choice("sedation"),
            "dissociation": self.choice("dissociation"),
            "respiration": self.choice("respiration"),
            "moaas": self.choice("moaas"),
            "aldrete": given or None,
            "note": self.text("note"),
        }

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        given = values.get("aldrete") or {}
        missing = [(name, label) for name, label, _ in ALDRETE_ITEMS if name not in given]
        if given and missing:
            names = ", ".join(label for _, label in missing)
            return [(f"aldrete-{missing[0][0]}",
                     f"Aldrete: score all five items or none (missing: {names})")]
        return []


class DischargeForm(CommandForm):
    """Discharge; with ``override`` a written reason (and who overrides) is required.

    ``sender`` names the signed-in user when the broker vouches for who sends: the form then
    shows it and asks for no name. Without sign-in, who overrides is typed in (role:name)."""

    MODEL = Discharge
    TITLE = "Discharge"
    SEND = "Discharge"
    LABELS: ClassVar[dict[str, str]] = {"override_reason": "Reason for override"}

    def __init__(self, chair: str, by: str, now: Callable[[], datetime], *,
                 override: bool = False, sender: str | None = None, **kwargs: Any) -> None:
        super().__init__(chair, by, now, **kwargs)
        self.override = override
        self.sender = sender
        if override:
            self.send_label = "Override and discharge"

    def fields(self) -> Iterable[Widget]:
        if not self.override:
            return
        yield self.label("override_reason", "Reason")
        yield self.entry("override_reason", "why discharge before every condition is met")
        if self.sender is not None:
            yield self.label("by", "By")
            yield Static(self.sender, id="sender")
            return
        yield self.label("by", "By (role:name)")
        yield self.entry("by", "physician:name", value=self.by)

    def values(self) -> dict[str, Any]:
        if not self.override:
            return {}
        if self.sender is None:
            self.by = self.text("by") or ""
        return {"override_reason": self.text("override_reason")}

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        if self.override and not values.get("override_reason"):
            return [("override_reason", "Reason for override: required to override")]
        return []


class EndSessionForm(CommandForm):
    MODEL = EndSession
    TITLE = "End the session"
    SEND = "End session"
    LABELS: ClassVar[dict[str, str]] = {"reason": "Reason"}

    def fields(self) -> Iterable[Widget]:
        yield self.label("reason", "Reason")
        yield self.entry("reason", "e.g. session cancelled before dosing (optional)")

    def values(self) -> dict[str, Any]:
        return {"reason": self.text("reason")}


SYMPTOM_CHOICES: tuple[tuple[str, str], ...] = (
    ("chest pain", "chest_pain"),
    ("shortness of breath", "shortness_of_breath"),
    ("sudden severe headache", "severe_headache"),
    ("visual disturbance", "visual_disturbance"),
    ("seizure", "seizure"),
    ("diminished consciousness", "diminished_consciousness"),
    ("focal neurological deficit", "focal_neurological_deficit"),
)


class SymptomsForm(CommandForm):
    """Symptoms of a hypertensive crisis or encephalopathy: the label asks for an immediate
    referral to emergency care, and the engine raises a high alarm that says so."""

    MODEL = Symptoms
    TITLE = "Symptoms of a hypertensive emergency"
    SEND = "Record symptoms"
    LABELS: ClassVar[dict[str, str]] = {"symptoms": "Symptoms", "note": "Note"}

    def fields(self) -> Iterable[Widget]:
        yield self.label("symptoms", "Symptoms")
        yield SelectionList[str](*SYMPTOM_CHOICES, id="symptoms", compact=True)
        yield self.label("note", "Note")
        yield self.entry("note", "optional")

    def values(self) -> dict[str, Any]:
        return {"symptoms": list(self.query_one("#symptoms", SelectionList).selected),
                "note": self.text("note")}

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        if not values.get("symptoms"):
            return [("symptoms", "Symptoms: choose at least one (space ticks)")]
        return []
