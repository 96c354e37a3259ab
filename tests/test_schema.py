"""The JSON Schema of flows.yaml: generated from the spec models, shipped as flows.schema.json,
and true to what the loader accepts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.cli import main
from bot.flows.tools.schema import flows_schema, schema_text
from tests.support import ROOT


def test_the_shipped_schema_is_the_generated_one() -> None:
    """flows.schema.json equals `bot schema` (regenerate: `bot schema > flows.schema.json`)."""
    assert (ROOT / "flows.schema.json").read_text(encoding="utf-8") == schema_text()


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """`bot schema` prints the schema text and exits 0."""
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == schema_text()


def test_the_schema_names_its_dialect_and_uses_yaml_field_names() -> None:
    """It has `$schema`, a title and a description, and the call body is `json`."""
    schema = flows_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "flows.yaml"
    assert "bot check" in schema["description"]
    call = schema["$defs"]["CallSpec"]["properties"]
    assert "json" in call
    assert "json_body" not in call
    assert schema["$defs"]["CallSpec"]["additionalProperties"] is False


# A small validator for the keywords the generated schema uses, enough to check documents.
def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


_TYPES: dict[str, Any] = {
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}


def _type_ok(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("number", "integer"):
        return False
    return isinstance(value, _TYPES[kind])


def _problems(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str) -> list[str]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        options = [_problems(value, s, root, at) for s in schema["anyOf"]]
        return [] if any(not p for p in options) else [f"{at}: no anyOf member fits"]
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_type_ok(value, k) for k in kinds):
            return [f"{at}: {value!r} is not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{at}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        found.append(f"{at}: {value!r} is not {schema['const']!r}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{at}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            found.append(f"{at}: too short")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            found.append(f"{at}: too small")
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{at}: too small")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{at}: too large")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        found += [f"{at}: missing {k}" for k in schema.get("required", []) if k not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                found += _problems(item, props[key], root, f"{at}.{key}")
            elif extra is False:
                found.append(f"{at}: unknown key {key}")
            elif isinstance(extra, dict):
                found += _problems(item, extra, root, f"{at}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += _problems(item, schema["items"], root, f"{at}[{i}]")
    return found


def _validate(document: Any) -> list[str]:
    schema = flows_schema()
    return _problems(document, schema, schema, "flows.yaml")


def test_the_example_flows_fit_the_schema() -> None:
    """The shipped flows.yaml is valid against the schema (durations as text, `json:`...)."""
    document = YAML(typ="safe").load((ROOT / "flows.yaml").read_text(encoding="utf-8"))
    assert _validate(document) == []


@pytest.mark.parametrize(
    ("timeout", "ok"),
    [(30, True), ("90s", True), ("1h 30M", True), ("2 days", False), (0, False), (-5, False)],
)
def test_durations_are_seconds_or_text_with_units(timeout: Any, ok: bool) -> None:
    """A duration is a positive number of seconds or numbers with units d, h, m, s, ms."""
    document = {
        "flows": {
            "f": {
                "start": "a",
                "states": {
                    "a": {
                        "say": "Hi",
                        "options": [{"label": "x", "go": "a"}],
                        "timeout": {"after": timeout, "go": "a"},
                    },
                },
            }
        }
    }
    assert (_validate(document) == []) is ok


def test_unknown_keys_are_refused_as_the_loader_refuses_them() -> None:
    """A misspelt key is invalid, as `bot check` says too."""
    document = {"flows": {"f": {"start": "a", "states": {"a": {"sya": "Hi"}}}}}
    assert _validate(document) == ["flows.yaml.flows.f.states.a: unknown key sya"]


def test_texts_take_numbers_as_the_models_coerce_them() -> None:
    """`code: 42` is the text "42" to the loader, so the schema accepts numbers for texts."""
    document = {
        "flows": {"f": {"start": "a", "states": {"a": {"template": {"code": 42}}}}},
    }
    assert _validate(document) == []
    assert json.loads(schema_text()) == flows_schema()
