"""The schema of flows.yaml and of the files in intents/: frozen pydantic models.

These models say what an author may write. Cross-references between them (targets that
exist, intents that name real flows, variables that are defined) are checked by
`bot.flows.loader` and `bot.flows.tools.lint`, which turn every problem into
`file:line: what to fix`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from bot.flows.answers import SlotSpec
from bot.flows.links import base_written
from bot.model import DEFAULT_ACCOUNT

# A text an author writes: one string, or one per language ({en: ..., es: ...}).
Localized = str | dict[str, str]
# Words an author writes: one list, or one list per language.
LocalizedWords = list[str] | dict[str, list[str]]

_DURATION = re.compile(r"(\d+)\s*(ms|d|h|m|s)")
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: Any) -> float:
    """`90`, `"90s"`, `"5m"`, `"2h"`, `"1d"`, `"1h30m"` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 30s, 5m, 2h, 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"`{value}` is not a duration: write e.g. 30s, 5m, 2h, 1d or 1h30m")
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError("a duration is a number of seconds or text like 30s, 5m, 2h, 1d")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


_URL_RULE = (
    "starts with https:// and a host written out, data after the host's `/` only: a "
    "customer's data never chooses where it leads"
)


class TemplateSpec(Spec):
    """An approved template (console: Template Design), sent outside the 24-hour window."""

    code: str = Field(min_length=1, description="The template's code in the CAMS console.")
    language: str | None = Field(None, description="Template language; default: conversation's.")
    params: dict[str, str] = Field(
        default_factory=dict,
        description="Template variables, its URL buttons' too (`button_params` in `templates:`,"
        " each value sent as one path segment); values may use {{ expressions }}.",
    )
    header: str | None = Field(
        None,
        description="The URL of its image, video or document header (as `templates:` says its "
        "header is): https://HOST/..., {{ expressions }} after the host.",
    )

    @model_validator(mode="after")
    def _header_written(self) -> TemplateSpec:
        if self.header is not None and not base_written(self.header):
            raise ValueError(f"`header:` {_URL_RULE}")
        return self


class OptionSpec(Spec):
    """One answer the customer can give: by its number (its position, from 1), its label,
    a keyword or synonym, a pattern, or the payload of its button."""

    label: Localized = Field(description="What the option is called; also its button's title.")
    description: Localized | None = Field(
        None,
        description="A second line under the label when the options go as a list (more than "
        "three buttons): at most 72 characters.",
    )
    section: Localized | None = Field(
        None,
        description="The heading of the list section its row goes in, when the options go as a "
        "list: options with the same heading are one section, in the order they first come "
        "(at most 24 characters, 10 sections). Options without one go under the list's "
        "title (defaults.texts.list_title).",
    )
    go: str = Field(min_length=1, description="The state this option leads to.")
    keywords: list[str] = Field(default_factory=list, description="Other words that choose it.")
    synonyms: LocalizedWords = Field(
        default_factory=list, description="More words, optionally per language."
    )
    patterns: list[str] = Field(
        default_factory=list,
        description="Regular expressions (RE2 syntax) a whole reply may match, ignoring case.",
    )
    payload: str | None = Field(
        None, min_length=1, description="Button payload; default: FLOW.STATE.NUMBER."
    )
    when: str | None = Field(None, description="Offered only when this expression is true.")
    set: dict[str, str] = Field(
        default_factory=dict, description="Slots to set when chosen: name -> expression."
    )


class RouteSpec(Spec):
    """An automatic transition: the first route whose `when` holds is taken."""

    when: str | None = Field(None, description="Expression; no `when` always holds.")
    go: str = Field(min_length=1)
    set: dict[str, str] = Field(default_factory=dict)


class CollectSpec(SlotSpec):
    """Ask for a value, validate it, store it in `slot`; re-prompt, then escalate."""

    invalid: Localized | None = Field(
        None, description="Re-prompt on an invalid value; default: a text per type."
    )
    attempts: int = Field(3, ge=1, le=20, description="Invalid answers before escalating.")
    escalate: str | None = Field(None, description="State after `attempts` invalid answers.")
    go: str | None = Field(None, description="State after a valid value (or use `routes:`).")


class CallSpec(Spec):
    """Call an HTTP endpoint of the business; branch on the outcome. Never holds up the
    acknowledgement of a platform callback: it runs after the step commits."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(min_length=1, description="May use {{ expressions }}.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="May use {{ secret.NAME }} (from BOT_SECRET_NAME)."
    )
    json_body: Any = Field(None, alias="json", description="Body; strings may use {{ }}.")
    timeout: Duration = Field(10.0, le=60, description="Seconds before the call times out.")
    save: dict[str, str] = Field(
        default_factory=dict,
        description="Slots from the answer: name -> path, e.g. body.customer.name or status.",
    )
    success: str = Field(min_length=1, description="State after a 2xx answer.")
    failure: str = Field(min_length=1, description="State after any other answer.")
    on_timeout: str | None = Field(None, description="State after a timeout (default: failure).")

    model_config = ConfigDict(populate_by_name=True)


class TimeoutSpec(Spec):
    """No reply within `after` -> go to `go`."""

    after: Duration
    go: str = Field(min_length=1)


class ReminderSpec(Spec):
    """A nudge `after` the state was entered, while still waiting."""

    after: Duration
    say: Localized | None = None
    template: TemplateSpec | None = None

    @model_validator(mode="after")
    def _says_something(self) -> ReminderSpec:
        if self.say is None and self.template is None:
            raise ValueError("a reminder needs `say:` or `template:`")
        return self


class HandoffSpec(Spec):
    """Pause automation: forward the customer's messages to an agent webhook until an API
    call resumes the flow, or `timeout` passes."""

    webhook: str | None = Field(None, description="Default: defaults.agent.webhook.")
    resume: str = Field(min_length=1, description="State to continue at when resumed.")
    timeout: Duration | None = Field(None, description="Resume by itself after this long.")
    on_timeout: str | None = Field(None, description="State after the timeout (default: resume).")


class OtpSpec(Spec):
    """Send a one-time code through an authentication template and check the reply."""

    template: TemplateSpec = Field(description="Its params may use {{ otp }}, the code.")
    digits: int = Field(6, ge=4, le=10)
    ttl: Duration = Field(300.0, description="How long a code is valid.")
    attempts: int = Field(3, ge=1, le=10, description="Wrong codes before `wrong:`.")
    resend_after: Duration = Field(30.0, description="Cool-down before `resend` sends anew.")
    resend_words: list[str] = Field(default_factory=lambda: ["resend", "reenviar", "reenvoyer"])
    verified: str = Field(min_length=1)
    wrong: str = Field(min_length=1, description="State after `attempts` wrong codes.")
    expired: str = Field(min_length=1, description="State when the code has expired.")


class FallbackSpec(Spec):
    """SMS fallback (WhatsApp and Viber): CAMS sends an SMS when the message fails."""

    id: str = Field(min_length=1, description="FallBackId: the console's fallback policy.")
    content: Localized | None = Field(
        None, description="FallBackContent: the SMS text (per language, as `say:`)."
    )
    duration: int | None = Field(None, ge=60, le=43200, description="FallBackDuration, seconds.")


class MediaSpec(Spec):
    """A photo, document, video or audio sent with the state's message (`say:` is its
    caption), from a URL the platform fetches: `https://`, its host written out (data may
    fill the path after it, never choose the host)."""

    type: Literal["image", "document", "video", "audio"]
    url: str = Field(
        min_length=1, description="https://HOST/..., {{ expressions }} after the host."
    )
    filename: str | None = Field(
        None, description="document: the name the customer sees; default: the URL's last part."
    )

    @model_validator(mode="after")
    def _host_written(self) -> MediaSpec:
        if not base_written(self.url):
            raise ValueError(
                "`url:` starts with https:// and a host written out, data after the host's `/` "
                "only: a customer's data never chooses where the platform fetches from"
            )
        if self.filename is not None and self.type != "document":
            raise ValueError("`filename:` is for type document")
        return self


class LocationOutSpec(Spec):
    """A place sent as a location pin (after the state's text): each value may use
    {{ expressions }}; latitude and longitude must come out as numbers on the globe."""

    latitude: str = Field(min_length=1)
    longitude: str = Field(min_length=1)
    name: str | None = None
    address: str | None = None

    @field_validator("latitude", "longitude", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )


LINK_LABEL_MAX = 20  # WhatsApp's call-to-action button: its display text


class LinkSpec(Spec):
    """A button that opens a web page (WhatsApp's call-to-action URL button), sent with the
    state's `say:` as its text: `https://`, its host written out (data may fill the path and
    query after it, each value percent-encoded, never choose the host)."""

    label: Localized = Field(
        description="The button's text, per language if you like: at most 20 characters."
    )
    url: str = Field(
        min_length=1, description="https://HOST/..., {{ expressions }} after the host."
    )

    @model_validator(mode="after")
    def _written(self) -> LinkSpec:
        if not base_written(self.url):
            raise ValueError(f"`url:` {_URL_RULE}")
        labels = [self.label] if isinstance(self.label, str) else list(self.label.values())
        for label in labels:
            if not label.strip():
                raise ValueError("a link's `label:` is the text of its button: write one")
            if "{{" not in label and len(label) > LINK_LABEL_MAX:
                raise ValueError(
                    f"a link's `label:` is at most {LINK_LABEL_MAX} characters (WhatsApp's "
                    f"button): `{label}` has {len(label)}"
                )
        return self


class StateSpec(Spec):
    """A step of a flow: what the bot sends on entry and what moves the conversation on.
    A state with nothing that moves it on ends the conversation."""

    say: Localized | None = Field(None, description="Text sent on entry (inside the window).")
    template: TemplateSpec | None = Field(None, description="Template sent outside the window.")
    buttons: bool = Field(False, description="Send the options as quick-reply buttons.")
    options: list[OptionSpec] = Field(default_factory=list)
    reprompt: Localized | None = Field(None, description="Sent, before `say`, on an unknown reply.")
    attempts: int | None = Field(
        None, ge=1, le=20, description="Unknown replies before `escalate`."
    )
    escalate: str | None = Field(None, description="State after `attempts` unknown replies.")
    collect: CollectSpec | None = None
    routes: list[RouteSpec] = Field(default_factory=list)
    call: CallSpec | None = None
    otp: OtpSpec | None = None
    handoff: HandoffSpec | None = None
    timeout: TimeoutSpec | None = None
    remind: list[ReminderSpec] = Field(default_factory=list)
    set: dict[str, str] = Field(
        default_factory=dict, description="Slots set on entry: name -> expression."
    )
    on: dict[str, str] = Field(
        default_factory=dict, description="Business events (intents with `event:`) -> state."
    )
    on_failed: str | None = Field(None, description="State when this state's message fails.")
    fallback: FallbackSpec | None = None
    media: MediaSpec | None = Field(
        None, description="A photo, document, video or audio sent with `say:` as its caption."
    )
    location: LocationOutSpec | None = Field(
        None, description="A location pin sent after `say:` (inside the window)."
    )
    link: LinkSpec | None = Field(
        None, description="A button opening a web page, sent with `say:` as its text."
    )

    @model_validator(mode="after")
    def _consistent(self) -> StateSpec:
        if self.link is not None:
            with_link = [k for k, v in (("options", self.options), ("buttons", self.buttons),
                                        ("media", self.media), ("location", self.location))
                         if v]  # fmt: skip
            if with_link:
                raise ValueError(
                    f"a state sending a `link:` sends its text with the link's button alone, "
                    f"without `{with_link[0]}:`: put that in a state of its own"
                )
            if self.say is None:
                raise ValueError("a `link:` goes with the state's `say:`, its text: add `say:`")
        if (self.media or self.location) and self.buttons:
            raise ValueError("a state sending `media:` or `location:` lists its options in `say:`:"
                             " `buttons: true` goes with a text alone")  # fmt: skip
        if self.media and self.location:
            raise ValueError("a state sends `media:` or `location:`, not both: split it")
        if self.say is None and self.template is None and (self.options or self.collect):
            raise ValueError("a state that asks the customer needs `say:` or `template:`")
        kinds = [
            k
            for k, v in (
                ("options", self.options),
                ("collect", self.collect),
                ("call", self.call),
                ("otp", self.otp),
                ("handoff", self.handoff),
            )
            if v
        ]
        if len(kinds) > 1:
            raise ValueError(f"a state can do one of options, collect, call, otp, handoff: got "
                             f"{' and '.join(kinds)}; split it into two states")  # fmt: skip
        if self.routes and kinds and kinds != ["collect"]:
            raise ValueError("`routes:` go with `collect:` or stand alone, not with " + kinds[0])
        if self.collect is not None and self.collect.go is None and not self.routes:
            raise ValueError("`collect:` needs `go:` or `routes:` for where to continue")
        if self.escalate is not None and not self.options:
            raise ValueError("`escalate:` at state level goes with `options:`")
        waits = bool(self.options or self.collect or self.otp or self.handoff or self.on)
        if (self.timeout or self.remind) and not waits:
            raise ValueError("`timeout:`/`remind:` need a state that waits for the customer")
        return self


class CommandWords(Spec):
    """Words of the global commands, per language; matched to the whole reply."""

    stop: LocalizedWords = Field(
        default_factory=lambda: {
            "en": ["stop", "unsubscribe", "opt out"],
            "es": ["parar", "baja", "cancelar suscripcion"],
            "pt": ["parar", "sair", "cancelar inscricao"],
            "fr": ["arret", "stop", "desabonner"],
            "de": ["stopp", "abmelden"],
            "zh": ["退订", "取消订阅"],
        }
    )
    start: LocalizedWords = Field(
        default_factory=lambda: {
            "en": ["start", "subscribe", "unstop"],
            "es": ["alta", "empezar"],
            "pt": ["comecar", "voltar"],
            "fr": ["demarrer"],
            "de": ["start", "anmelden"],
            "zh": ["订阅"],
        }
    )
    stop_marketing: LocalizedWords = Field(
        default_factory=lambda: {
            "en": ["stop marketing", "stop promotions", "stop offers"],
            "es": ["baja publicidad", "parar promociones"],
            "pt": ["parar promocoes", "sair promocoes"],
            "fr": ["stop pub", "stop promotions"],
            "de": ["stopp werbung"],
            "zh": ["退订营销", "退订推广"],
        }
    )
    start_marketing: LocalizedWords = Field(
        default_factory=lambda: {
            "en": ["start marketing", "start promotions", "start offers"],
            "es": ["alta publicidad"],
            "pt": ["voltar promocoes"],
            "fr": ["demarrer pub"],
            "de": ["start werbung"],
            "zh": ["订阅营销"],
        }
    )
    agent: LocalizedWords = Field(
        default_factory=lambda: {
            "en": ["agent", "human", "operator"],
            "es": ["agente", "humano", "asesor"],
            "pt": ["atendente", "humano"],
            "fr": ["agent", "conseiller", "humain"],
            "de": ["mitarbeiter", "mensch"],
            "zh": ["人工", "客服"],
        }
    )
    restart: LocalizedWords = Field(
        default_factory=lambda: {
            "en": ["restart", "start over"],
            "es": ["reiniciar", "empezar de nuevo"],
            "pt": ["reiniciar", "recomecar"],
            "fr": ["recommencer"],
            "de": ["neustart"],
            "zh": ["重新开始"],
        }
    )


class FlowCommands(Spec):
    """Per-flow switches for the global commands (STOP and START are always on)."""

    agent: bool = True
    restart: bool = True


def _said(**by_lang: str) -> Any:
    """A built-in text in the languages of the built-in command words (a `default_factory`:
    each catalog gets its own copy)."""
    return Field(default_factory=lambda: dict(by_lang))


class Texts(Spec):
    """What the bot says for the built-in commands, in English, Spanish, Portuguese, French,
    German and Chinese unless written here (`bot check` warns of a language the flows speak
    that a text the bot may send lacks)."""

    stopped: Localized = _said(
        en="You will not receive more messages from us. Reply START to opt back in.",
        es="No recibirás más mensajes nuestros. Responde ALTA para volver a recibirlos.",
        pt="Você não receberá mais mensagens nossas. Responda VOLTAR para recebê-las de novo.",
        fr="Vous ne recevrez plus de messages de notre part. Répondez DÉMARRER pour les "
        "recevoir à nouveau.",
        de="Sie erhalten keine Nachrichten mehr von uns. Antworten Sie ANMELDEN, um sie "
        "wieder zu erhalten.",
        zh="您将不再收到我们的消息。回复“订阅”即可重新接收。",
    )
    started: Localized = _said(
        en="Welcome back! You will receive our messages again.",
        es="¡Bienvenido de nuevo! Volverás a recibir nuestros mensajes.",
        pt="Bem-vindo de volta! Você voltará a receber nossas mensagens.",
        fr="Bon retour ! Vous recevrez à nouveau nos messages.",
        de="Willkommen zurück! Sie erhalten wieder unsere Nachrichten.",
        zh="欢迎回来！您将重新收到我们的消息。",
    )
    list_button: Localized = Field(
        default_factory=lambda: {
            "en": "Choose",
            "es": "Elegir",
            "pt": "Escolher",
            "fr": "Choisir",
            "de": "Auswählen",
            "zh": "选择",
        },
        description="The button that opens a list of options (at most 20 characters).",
    )
    list_title: Localized = Field(
        default_factory=lambda: {
            "en": "Options",
            "es": "Opciones",
            "pt": "Opções",
            "fr": "Options",
            "de": "Optionen",
            "zh": "选项",
        },
        description="The heading of a list of options (at most 24 characters).",
    )
    stopped_marketing: Localized = _said(
        en="You will not receive offers and promotions from us any more. Reply START "
        "MARKETING to get them again.",
        es="Ya no recibirás nuestras ofertas y promociones. Responde ALTA PUBLICIDAD para "
        "volver a recibirlas.",
        pt="Você não receberá mais nossas ofertas e promoções. Responda VOLTAR PROMOÇÕES "
        "para recebê-las de novo.",
        fr="Vous ne recevrez plus nos offres et promotions. Répondez DÉMARRER PUB pour les "
        "recevoir à nouveau.",
        de="Sie erhalten keine Angebote und Werbung mehr von uns. Antworten Sie START "
        "WERBUNG, um sie wieder zu erhalten.",
        zh="您将不再收到我们的优惠和推广信息。回复“订阅营销”即可重新接收。",
    )
    started_marketing: Localized = _said(
        en="You will receive our offers and promotions again.",
        es="Volverás a recibir nuestras ofertas y promociones.",
        pt="Você voltará a receber nossas ofertas e promoções.",
        fr="Vous recevrez à nouveau nos offres et promotions.",
        de="Sie erhalten wieder unsere Angebote und Werbung.",
        zh="您将重新收到我们的优惠和推广信息。",
    )
    agent: Localized = _said(
        en="Connecting you with a colleague. Please wait.",
        es="Te estamos comunicando con un compañero. Espera un momento, por favor.",
        pt="Estamos conectando você a um colega. Aguarde, por favor.",
        fr="Nous vous mettons en relation avec un collègue. Merci de patienter.",
        de="Wir verbinden Sie mit einem Kollegen. Bitte warten Sie.",
        zh="正在为您转接同事，请稍候。",
    )
    agent_resumed: Localized = _said(
        en="Thanks for waiting. Let's continue.",
        es="Gracias por esperar. Continuemos.",
        pt="Obrigado por aguardar. Vamos continuar.",
        fr="Merci de votre patience. Continuons.",
        de="Danke fürs Warten. Machen wir weiter.",
        zh="感谢您的耐心等待，我们继续吧。",
    )
    otp_wrong: Localized = _said(
        en="That code is not right. Please try again.",
        es="Ese código no es correcto. Inténtalo de nuevo.",
        pt="Esse código não está correto. Tente novamente.",
        fr="Ce code n'est pas le bon. Veuillez réessayer.",
        de="Dieser Code ist nicht richtig. Bitte versuchen Sie es erneut.",
        zh="验证码不正确，请重试。",
    )
    otp_resend_wait: Localized = _said(
        en="Please wait a moment before asking for a new code.",
        es="Espera un momento antes de pedir un código nuevo.",
        pt="Aguarde um momento antes de pedir um novo código.",
        fr="Veuillez patienter un instant avant de demander un nouveau code.",
        de="Bitte warten Sie einen Moment, bevor Sie einen neuen Code anfordern.",
        zh="请稍候片刻再申请新的验证码。",
    )


class AgentSpec(Spec):
    """Where the `agent` command and handoff states forward the customer's messages."""

    webhook: str | None = Field(None, description="URL receiving the customer's messages.")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration | None = Field(None, description="Resume automation after this long.")


class Defaults(Spec):
    language: str = Field("en", description="Language of conversations whose data has no `lang`.")
    reprompt: Localized = Field(
        default_factory=lambda: {
            "en": "Sorry, I didn't understand that.",
            "es": "Perdona, no lo he entendido.",
            "pt": "Desculpe, não entendi.",
            "fr": "Désolé, je n'ai pas compris.",
            "de": "Entschuldigung, das habe ich nicht verstanden.",
            "zh": "抱歉，我没有理解您的意思。",
        },
        description="Default re-prompt on an unknown reply.",
    )
    attempts: int = Field(3, ge=1, le=20, description="Default unknown replies before `escalate`.")
    inbound_flow: str | None = Field(
        None, description="Flow started when a customer writes outside any flow."
    )
    commands: CommandWords = Field(default_factory=CommandWords)
    texts: Texts = Field(default_factory=Texts)
    agent: AgentSpec = Field(default_factory=AgentSpec)


class FlowSpec(Spec):
    description: str = ""
    start: str = Field(min_length=1, description="The first state.")
    data: dict[str, Any] = Field(
        default_factory=dict, description="Default data; intent data is merged over it."
    )
    commands: FlowCommands = Field(default_factory=FlowCommands)
    migrations: dict[str, str] = Field(
        default_factory=dict,
        description="Removed or renamed state -> state where its live conversations continue.",
    )
    states: dict[str, StateSpec] = Field(min_length=1)


# The headers a send fills with a URL (its `header:`).
MEDIA_HEADERS = ("image", "video", "document")


class TemplateEntry(Spec):
    """An approved template of the account, as the flows may send it (`templates:`): `bot
    check` fails a flow that sends one that is not here, in a language it lacks, or with
    parameters other than its own; `bot templates sync` compares the list with CAMS's."""

    languages: list[str] = Field(
        min_length=1, description="The languages it is approved in: `en`, `es`, `pt_BR`..."
    )
    category: Literal["marketing", "utility", "authentication"] = Field(
        description="WhatsApp's category: a campaign sending it is of this category."
    )
    params: list[str] = Field(
        default_factory=list, description="Its variables, each of which every send fills."
    )
    header: Literal["none", "text", "image", "video", "document", "location"] = Field(
        "none", description="What its header is."
    )
    buttons: list[Literal["quick_reply", "url", "phone", "copy_code", "otp"]] = Field(
        default_factory=list, description="Its buttons, in order."
    )
    header_param: str = Field(
        "link",
        min_length=1,
        description="An image, video or document header: the variable whose value is the "
        "media's URL (a send's `header:`).",
    )
    button_params: list[str] = Field(
        default_factory=list,
        description="The variables of its URL buttons' dynamic part, each of which every send "
        "fills (in `params:`); a value goes as one path segment, percent-encoded.",
    )
    description: str = ""

    @model_validator(mode="after")
    def _variables_apart(self) -> TemplateEntry:
        both = sorted(set(self.params) & set(self.button_params))
        if both:
            raise ValueError(
                f"{', '.join(both)} is in `params:` and in `button_params:`: a variable of a URL "
                "button goes in `button_params:` alone"
            )
        if self.button_params and "url" not in self.buttons:
            raise ValueError("`button_params:` are the variables of its URL buttons: add `url` "
                             "to `buttons:`, or remove them")  # fmt: skip
        media = self.header in MEDIA_HEADERS
        if "header_param" in self.model_fields_set and not media:
            raise ValueError(f"`header_param:` names the URL of an image, video or document "
                             f"header, and its header is {self.header}")  # fmt: skip
        if media and self.header_param in (*self.params, *self.button_params):
            raise ValueError(
                f"`{self.header_param}` carries its header's URL (`header_param:`): it is no "
                "other variable; rename one of them"
            )
        return self


# The name of a business number (`numbers:`) or of a CAMS account: a word, as intents, the
# API and campaigns name it, and as BOT_CAMS_ACCOUNT_<NAME>_* spells an account in capitals.
NAME = r"^[a-z][a-z0-9_]{0,31}$"


class NumberSpec(Spec):
    """A business number (`numbers:`): customers write to it, the business sends from it.
    Its conversations start its own inbound flow, speak its language by default, read dates
    in its time zone, and are sent through its CAMS account and channel space."""

    number: str = Field(
        min_length=1,
        description="The number as customers write to it (`+34 600 000 001`); on a channel "
        "without numbers, the business's id there (a Messenger Page ID, a Viber service ID).",
    )
    channel: str = Field(
        "whatsapp",
        pattern=NAME,
        description="The channel: whatsapp, viber, messenger, instagram...",
    )
    inbound_flow: str | None = Field(
        None,
        description="Flow started when a customer writes to it outside any flow; default: "
        "defaults.inbound_flow.",
    )
    language: str | None = Field(
        None,
        description="Language of its conversations whose data has no `lang`; default: "
        "defaults.language.",
    )
    time_zone: str = Field(
        "UTC",
        description="Its time zone (`Europe/Madrid`): what `today` is in its flows and in the "
        "dates its customers write, and a campaign's time zone when it names none.",
    )
    account: str = Field(
        DEFAULT_ACCOUNT,
        pattern=NAME,
        description="The CAMS account its messages are sent with: `default` "
        "(BOT_CAMS_ACCESS_KEY_ID) or a NAME of BOT_CAMS_ACCOUNT_<NAME>_ACCESS_KEY_ID.",
    )
    space: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.@-]{1,64}$",
        description="Its channel's CustSpaceId in CAMS (`cams-83m8j9xxxxadc`): sent with "
        "each message that no callback gave one.",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if time_zone(value) is None:
            raise ValueError(
                f"`{value}` is no time zone: write one of the IANA database, such as "
                "Europe/Madrid or America/Sao_Paulo"
            )
        return value


def time_zone(name: str) -> ZoneInfo | None:
    """The time zone of an IANA name (`Europe/Madrid`), None when there is none such."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


class FlowsFile(Spec):
    version: int = 1
    defaults: Defaults = Field(default_factory=Defaults)
    numbers: dict[Annotated[str, Field(pattern=NAME)], NumberSpec] = Field(
        default_factory=dict,
        description="The business numbers, by name (none: every number is served, "
        "BOT_CAMS_FROM sends). Listed, a number not here is refused at intake.",
    )
    templates: dict[str, TemplateEntry] = Field(
        default_factory=dict,
        description="The account's approved templates, by code (none: sends are not checked).",
    )
    flows: dict[str, FlowSpec] = Field(min_length=1)


class IntentSpec(Spec):
    """An intent as set up in the CAMS console (code, name, default data) and what it does
    here: start a flow, or send an event to the flow the customer is in."""

    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    default_data: dict[str, Any] = Field(default_factory=dict)
    start: str | None = Field(None, description="Flow to start for the customer.")
    event: str | None = Field(None, description="Event sent to the customer's current flow.")
    policy: Literal["queue", "replace", "reject"] = Field(
        "replace", description="When the customer is mid-flow: queue, replace or reject."
    )
    number: str | None = Field(
        None,
        pattern=NAME,
        description="The business number (a name of `numbers:`) it sends from when the call "
        "names none.",
    )

    @model_validator(mode="after")
    def _one_action(self) -> IntentSpec:
        if (self.start is None) == (self.event is None):
            raise ValueError("an intent needs exactly one of `start: FLOW` or `event: NAME`")
        return self
