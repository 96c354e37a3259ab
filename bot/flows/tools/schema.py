"""The JSON Schema of flows.yaml, generated from the spec models (`bot schema`).

Editors use it to complete and check flows.yaml as it is typed: with the YAML extension of
VS Code, a first line `# yaml-language-server: $schema=flows.schema.json` is enough. The
shipped flows.schema.json is this module's output; a test keeps the two equal.

The schema accepts what the loader accepts, where the models alone would say less:
- durations (`after: 2h`) are a number of seconds or a text such as 30s, 5m, 2h, 1d, 1h30m;
- text fields also take numbers (the models coerce `code: 42` to "42").
Cross-references (targets that exist, defined variables) are beyond a schema: `bot check`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from bot.flows.spec import FlowsFile, parse_duration

DIALECT = "https://json-schema.org/draft/2020-12/schema"
TITLE = "flows.yaml"
DESCRIPTION = (
    "Conversation flows of the bot: defaults and flows of states (see docs/flows.md). "
    "Check cross-references with `bot check`."
)
# parse_duration's grammar: numbers with units, spaces and case ignored ("1h 30m", "5M").
DURATION_PATTERN = r"^\s*([0-9]+\s*([mM][sS]|[dDhHmMsS])\s*)+$"


class _FlowsSchema(GenerateJsonSchema):
    """pydantic's generator, with durations and number-coerced texts as the loader reads them."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        inner = super().function_before_schema(schema)
        if schema["function"].get("function") is not parse_duration:
            return inner
        seconds = {**inner, "exclusiveMinimum": 0}
        text = {"type": "string", "pattern": DURATION_PATTERN}
        return {
            "anyOf": [seconds, text],
            "description": "Seconds, or a duration such as 30s, 5m, 2h, 1d or 1h30m.",
        }

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        # Every spec model sets coerce_numbers_to_str: `code: 42` is the text "42".
        return {**super().str_schema(schema), "type": ["string", "number"]}


def flows_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of flows.yaml; fields under their YAML names."""
    body = FlowsFile.model_json_schema(by_alias=True, schema_generator=_FlowsSchema)
    body.pop("title", None)
    body.pop("description", None)
    return {"$schema": DIALECT, "title": TITLE, "description": DESCRIPTION, **body}


def schema_text() -> str:
    """flows_schema() as the text of flows.schema.json."""
    return json.dumps(flows_schema(), indent=2, ensure_ascii=False) + "\n"
