"""The default re-prompts of slots: what to send, said in English, Spanish, Portuguese,
French, German or Chinese (the languages of the built-in command words and texts).

A state's `collect.invalid:` replaces them; without it, an invalid answer is answered with
`describe_error(error, spec, lang)`: "Please send a whole number between 1 and 5.", "That
date does not exist. Please send a date, for example 30/11."
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.flows.answers.spec import SlotSpec


def plain_number(x: float, lang: str = "en") -> str:
    """A bound as people write it: 5, 2.5 (2,5 in Spanish, Portuguese, French and German)."""
    s = str(int(x)) if x.is_integer() else f"{x:g}"
    return s.replace(".", ",") if lang in ("es", "pt", "fr", "de") else s


_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "send": "Please send {what}.",
        "no_such_date": "That date does not exist. Please send {what}.",
        "in_the_past": "Please send a date from today on.",
        "in_the_future": "Please send a date before today.",
        "between": "between {lo} and {hi}",
        "at_least": "of at least {lo}",
        "at_most": "of at most {hi}",
        "chars": "{range} characters",
        "chars_between": "of {lo} to {hi} characters",
        "text": "a reply",
        "written": "your reply as a text",
        "integer": "a whole number",
        "number": "a number",
        "date": "a date, for example {example}",
        "time": "a time, for example 14:30",
        "phone": "a phone number, for example +44 20 7946 0958",
        "email": "an email address, for example name@example.com",
        "choice": "one of: {choices}",
        "regex": "a reply in the expected format",
        "image": "a photo",
        "document": "a document (a file)",
        "audio": "a voice note or an audio file",
        "video": "a video",
        "location": "a location (Attach, then Location)",
        "contact": "a contact (Attach, then Contact)",
        "media": "a photo, a file, a voice note, a video, a location or a contact",
    },
    "es": {
        "send": "Por favor, envía {what}.",
        "no_such_date": "Esa fecha no existe. Por favor, envía {what}.",
        "in_the_past": "Por favor, envía una fecha de hoy en adelante.",
        "in_the_future": "Por favor, envía una fecha anterior a hoy.",
        "between": "entre {lo} y {hi}",
        "at_least": "de al menos {lo}",
        "at_most": "de como máximo {hi}",
        "chars": "{range} caracteres",
        "chars_between": "de {lo} a {hi} caracteres",
        "text": "una respuesta",
        "written": "tu respuesta por escrito",
        "integer": "un número entero",
        "number": "un número",
        "date": "una fecha, por ejemplo {example}",
        "time": "una hora, por ejemplo 14:30",
        "phone": "un número de teléfono, por ejemplo +34 612 345 678",
        "email": "un correo electrónico, por ejemplo nombre@ejemplo.com",
        "choice": "una de estas opciones: {choices}",
        "regex": "una respuesta con el formato esperado",
        "image": "una foto",
        "document": "un documento (un archivo)",
        "audio": "una nota de voz o un audio",
        "video": "un vídeo",
        "location": "una ubicación (Adjuntar, luego Ubicación)",
        "contact": "un contacto (Adjuntar, luego Contacto)",
        "media": "una foto, un archivo, una nota de voz, un vídeo, una ubicación o un contacto",
    },
    "pt": {
        "send": "Por favor, envie {what}.",
        "no_such_date": "Essa data não existe. Por favor, envie {what}.",
        "in_the_past": "Por favor, envie uma data a partir de hoje.",
        "in_the_future": "Por favor, envie uma data anterior a hoje.",
        "between": "entre {lo} e {hi}",
        "at_least": "de pelo menos {lo}",
        "at_most": "de no máximo {hi}",
        "chars": "{range} caracteres",
        "chars_between": "de {lo} a {hi} caracteres",
        "text": "uma resposta",
        "written": "sua resposta por escrito",
        "integer": "um número inteiro",
        "number": "um número",
        "date": "uma data, por exemplo {example}",
        "time": "um horário, por exemplo 14:30",
        "phone": "um número de telefone, por exemplo +55 11 91234 5678",
        "email": "um e-mail, por exemplo nome@exemplo.com",
        "choice": "uma destas opções: {choices}",
        "regex": "uma resposta no formato esperado",
        "image": "uma foto",
        "document": "um documento (um arquivo)",
        "audio": "uma mensagem de voz ou um áudio",
        "video": "um vídeo",
        "location": "uma localização (Anexar, depois Localização)",
        "contact": "um contato (Anexar, depois Contato)",
        "media": (
            "uma foto, um arquivo, uma mensagem de voz, um vídeo, uma localização ou um contato"
        ),
    },
    "fr": {
        "send": "Veuillez envoyer {what}.",
        "no_such_date": "Cette date n'existe pas. Veuillez envoyer {what}.",
        "in_the_past": "Veuillez envoyer une date à partir d'aujourd'hui.",
        "in_the_future": "Veuillez envoyer une date antérieure à aujourd'hui.",
        "between": "entre {lo} et {hi}",
        "at_least": "d'au moins {lo}",
        "at_most": "d'au plus {hi}",
        "chars": "{range} caractères",
        "chars_between": "de {lo} à {hi} caractères",
        "text": "une réponse",
        "written": "votre réponse par écrit",
        "integer": "un nombre entier",
        "number": "un nombre",
        "date": "une date, par exemple {example}",
        "time": "une heure, par exemple 14:30",
        "phone": "un numéro de téléphone, par exemple +33 6 12 34 56 78",
        "email": "une adresse e-mail, par exemple nom@exemple.com",
        "choice": "l'une de ces options : {choices}",
        "regex": "une réponse au format attendu",
        "image": "une photo",
        "document": "un document (un fichier)",
        "audio": "un message vocal ou un fichier audio",
        "video": "une vidéo",
        "location": "une position (Joindre, puis Position)",
        "contact": "un contact (Joindre, puis Contact)",
        "media": "une photo, un fichier, un message vocal, une vidéo, une position ou un contact",
    },
    "de": {
        "send": "Bitte senden Sie {what}.",
        "no_such_date": "Dieses Datum gibt es nicht. Bitte senden Sie {what}.",
        "in_the_past": "Bitte senden Sie ein Datum ab heute.",
        "in_the_future": "Bitte senden Sie ein Datum vor heute.",
        "between": "zwischen {lo} und {hi}",
        "at_least": "von mindestens {lo}",
        "at_most": "von höchstens {hi}",
        "chars": "{range} Zeichen",
        "chars_between": "von {lo} bis {hi} Zeichen",
        "text": "eine Antwort",
        "written": "Ihre Antwort als Text",
        "integer": "eine ganze Zahl",
        "number": "eine Zahl",
        "date": "ein Datum, zum Beispiel {example}",
        "time": "eine Uhrzeit, zum Beispiel 14:30",
        "phone": "eine Telefonnummer, zum Beispiel +49 30 12345678",
        "email": "eine E-Mail-Adresse, zum Beispiel name@beispiel.de",
        "choice": "eine dieser Optionen: {choices}",
        "regex": "eine Antwort im erwarteten Format",
        "image": "ein Foto",
        "document": "ein Dokument (eine Datei)",
        "audio": "eine Sprachnachricht oder eine Audiodatei",
        "video": "ein Video",
        "location": "einen Standort (Anhängen, dann Standort)",
        "contact": "einen Kontakt (Anhängen, dann Kontakt)",
        "media": (
            "ein Foto, eine Datei, eine Sprachnachricht, ein Video, einen Standort oder "
            "einen Kontakt"
        ),
    },
    # Chinese puts a bound after the thing as a clause of its own, with no space before it.
    "zh": {
        "join": "",
        "send": "请发送{what}。",
        "no_such_date": "该日期不存在。请发送{what}。",
        "in_the_past": "请发送今天或之后的日期。",
        "in_the_future": "请发送今天之前的日期。",
        "between": "，介于 {lo} 和 {hi} 之间",
        "at_least": "，至少为 {lo}",
        "at_most": "，至多为 {hi}",
        "chars": "{range} 个字符",
        "chars_between": "，长度为 {lo} 到 {hi} 个字符",
        "text": "一条回复",
        "written": "文字回复",
        "integer": "一个整数",
        "number": "一个数字",
        "date": "一个日期，例如 {example}",
        "time": "一个时间，例如 14:30",
        "phone": "一个电话号码，例如 +86 138 0013 8000",
        "email": "一个电子邮箱地址，例如 name@example.com",
        "choice": "以下选项之一：{choices}",
        "regex": "符合格式要求的回复",
        "image": "一张照片",
        "document": "一个文档（文件）",
        "audio": "一条语音消息或一个音频文件",
        "video": "一段视频",
        "location": "一个位置（附件，然后选择位置）",
        "contact": "一个联系人（附件，然后选择联系人）",
        "media": "一张照片、一个文件、一条语音消息、一段视频、一个位置或一个联系人",
    },
}
# The languages the built-in re-prompts speak (`bot check` warns of others a flow speaks).
LANGUAGES = frozenset(_WORDS)
_DATE_EXAMPLES = {"DMY": "30/11", "MDY": "11/30", "YMD": "11/30"}


def _language(lang: str) -> str:
    primary = lang.replace("_", "-").split("-")[0].lower()
    return primary if primary in _WORDS else "en"


def _range(words: Mapping[str, str], lo: str | None, hi: str | None) -> str:
    if lo is not None and hi is not None:
        return words["between"].format(lo=lo, hi=hi)
    if lo is not None:
        return words["at_least"].format(lo=lo)
    if hi is not None:
        return words["at_most"].format(hi=hi)
    return ""


def _what(spec: SlotSpec, lang: str) -> str:
    """What the slot expects, as the object of "Please send ..."."""
    words = _WORDS[lang]
    kind = spec.type
    lo, hi = spec.min, spec.max
    if kind == "integer":
        lo = None if lo is None else math.ceil(lo)
        hi = None if hi is None else math.floor(hi)
    bounds = _range(
        words,
        None if lo is None else plain_number(float(lo), lang),
        None if hi is None else plain_number(float(hi), lang),
    )
    what = words[kind].format(
        example=_DATE_EXAMPLES[spec.date_order], choices=", ".join(spec.choice_values)
    )
    if kind == "text" and bounds:
        if lo is not None and hi is not None:
            bounds = words["chars_between"].format(lo=plain_number(lo), hi=plain_number(hi))
        else:
            bounds = words["chars"].format(range=bounds)
    return f"{what}{words.get('join', ' ')}{bounds}" if bounds else what


def describe_error(error: str, spec: SlotSpec, lang: str = "en") -> str:
    """A short default re-prompt for `error` in `lang` (English for a language without)."""
    words = _WORDS[_language(lang)]
    if error in ("no_such_date", "in_the_past", "in_the_future") and spec.type == "date":
        return words[error].format(what=_what(spec, _language(lang)))
    if error == "not_text" and spec.type == "text":  # a photo, where words were asked for
        return words["send"].format(what=words["written"])
    return words["send"].format(what=_what(spec, _language(lang)))
