"""The schema of flows.yaml and of the files in intents/: frozen pydantic models.

These models say what an author may write. Cross-references between them (targets that
exist, intents that name real flows) are checked by `bot.flows.loader`, which also turns
every problem into `file:line: what to fix`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# A text an author writes: one string, or one per language ({en: ..., es: ...}).
Localized = str | dict[str, str]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class TemplateSpec(Spec):
    """An approved template (console: Template Design), sent outside the 24-hour window."""

    code: str = Field(min_length=1, description="The template's code in the CAMS console.")
    language: str | None = Field(None, description="Template language; default: conversation's.")
    params: dict[str, str] = Field(
        default_factory=dict, description="Template variables; values may use {{ slots }}."
    )


class OptionSpec(Spec):
    """One answer the customer can give: by its number (its position, from 1), its label,
    a keyword or the payload of its button."""

    label: Localized = Field(description="What the option is called; also its button's title.")
    go: str = Field(min_length=1, description="The state this option leads to.")
    keywords: list[str] = Field(default_factory=list, description="Other words that choose it.")
    payload: str | None = Field(
        None, min_length=1, description="Button payload; default: FLOW.STATE.NUMBER."
    )


class StateSpec(Spec):
    """A step of a flow: what the bot sends on entry and which replies lead where.
    A state without options and events ends the conversation."""

    say: Localized | None = Field(None, description="Text sent on entry (inside the window).")
    template: TemplateSpec | None = Field(None, description="Template sent outside the window.")
    options: list[OptionSpec] = Field(default_factory=list)
    buttons: bool = Field(False, description="Send the options as quick-reply buttons.")
    reprompt: Localized | None = Field(None, description="Sent, before `say`, on an unknown reply.")
    on: dict[str, str] = Field(
        default_factory=dict, description="Business events (from intents) -> target state."
    )

    @model_validator(mode="after")
    def _says_something(self) -> StateSpec:
        if self.say is None and self.template is None:
            raise ValueError("a state needs `say:` (a text) or `template:` (or both)")
        return self


class FlowSpec(Spec):
    description: str = ""
    start: str = Field(min_length=1, description="The first state.")
    data: dict[str, Any] = Field(
        default_factory=dict, description="Default data; intent data is merged over it."
    )
    states: dict[str, StateSpec] = Field(min_length=1)


class Defaults(Spec):
    language: str = Field("en", description="Language of conversations whose data has no `lang`.")
    reprompt: Localized = Field(
        "Sorry, I didn't understand that.", description="Default re-prompt on an unknown reply."
    )
    inbound_flow: str | None = Field(
        None, description="Flow started when a customer writes outside any flow."
    )


class FlowsFile(Spec):
    version: int = 1
    defaults: Defaults = Field(default_factory=Defaults)
    flows: dict[str, FlowSpec] = Field(min_length=1)


class IntentSpec(Spec):
    """An intent as set up in the CAMS console (code, name, default data) and what it does
    here: start a flow, or send an event to the flow the customer is in."""

    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    default_data: dict[str, Any] = Field(default_factory=dict)
    start: str | None = Field(None, description="Flow to start for the customer.")
    event: str | None = Field(None, description="Event sent to the customer's current flow.")

    @model_validator(mode="after")
    def _one_action(self) -> IntentSpec:
        if (self.start is None) == (self.event is None):
            raise ValueError("an intent needs exactly one of `start: FLOW` or `event: NAME`")
        return self
