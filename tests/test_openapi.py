"""/openapi.json: a valid OpenAPI 3.1 document that names exactly the routes the app serves,
with schemas that are true to the parsers: what the published schemas allow, the parsers
take."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from pydantic import TypeAdapter
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from bot.errors import BadRequest
from bot.flows.compiler import CompiledCatalog
from bot.platforms.cams.business import DATA_FIELDS, parse_business_call, read_fields
from bot.platforms.cams.receipts import BadItem, parse_receipts
from bot.platforms.tencent.callbacks import AFTER_SEND, BEFORE_SEND, Ignored, parse_callback
from bot.settings import Settings
from bot.web.flows import flow_figures
from bot.web.keys import SETTINGS
from bot.web.openapi import document
from bot.web.schemas import CamsReceiptItem, FlowDetail
from tests.conftest import AppFactory
from tests.support import load_data

GENERATED = settings(
    max_examples=max(150, settings.default.max_examples),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
BOT = "shopbot"
APP = "1400000003"


def doc(sandbox: bool = True) -> dict[str, Any]:
    return document(Settings(sandbox=sandbox))


@pytest.mark.parametrize("sandbox", [False, True])
def test_the_document_is_valid_openapi_3_1(sandbox: bool) -> None:
    """The OpenAPI 3.1 meta-schema accepts it, schemathesis loads it, and every component
    schema is valid JSON Schema 2020-12 whose references resolve."""
    description = doc(sandbox)
    assert description["openapi"] == "3.1.0"
    OPENAPI_31_VALIDATOR.validate(description)
    schemathesis.openapi.from_dict(description).validate()
    components = description["components"]["schemas"]
    for name, schema in components.items():
        jsonschema_rs.meta.validate(schema)
        refs = {r.rsplit("/", 1)[1] for r in _refs(schema)}
        assert refs <= set(components), (name, refs - set(components))
    used = {r.rsplit("/", 1)[1] for r in _refs(description["paths"])}
    assert used <= set(components)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.mark.parametrize("sandbox", [False, True])
async def test_every_route_is_described_and_nothing_else(
    make_client: AppFactory, sandbox: bool
) -> None:
    """The served document's paths and methods are exactly the app's routes (HEAD aside, and
    the web console's pages, which are for browsers: docs/console.md), the sandbox's only in
    sandbox mode; each operation says how it answers."""
    client = await make_client(sandbox=sandbox)
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    served = await resp.json()
    assert served == json.loads(json.dumps(document(client.app[SETTINGS])))
    routed = {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        and not route.resource.canonical.startswith("/console")
    }
    described = {(m.upper(), path) for path, ops in served["paths"].items() for m in ops}
    assert described == routed
    assert any(path.startswith("/sandbox/") for _, path in routed) is sandbox
    for path, ops in served["paths"].items():
        for method, op in ops.items():
            assert op["operationId"], (method, path)
            assert op["responses"], (method, path)
            if method == "post" and not path.startswith("/sandbox/"):
                assert {"400", "408", "413", "415"} <= set(op["responses"]), path


def test_the_flows_schema_names_every_field_they_answer(catalog: CompiledCatalog) -> None:
    """Each state and transition of `GET /v1/flows/{name}` has exactly the fields its published
    schema names (`final` and `dropoff` among them, described), and fits the model."""
    schemas_ = doc()["components"]["schemas"]
    state, transition = schemas_["FlowStateCounts"], schemas_["FlowTransition"]
    assert {"final", "dropoff"} <= set(state["required"])
    assert all(state["properties"][k]["description"] for k in ("final", "dropoff"))
    for flow in catalog.flows.values():
        figures = flow_figures(flow, Counter(), Counter())
        window = {"hours": 24, "since_ms": 0, "until_ms": 1, "now_complete": True}
        FlowDetail.model_validate({**window, **figures})
        assert all(set(s) == set(state["properties"]) for s in figures["states"])
        assert all(set(t) == set(transition["properties"]) for t in figures["transitions"])


def test_security_schemes_name_every_credential() -> None:
    """The receipt token, the business Signature, the Tencent Sign, and Bearer keys for the
    API and /metrics; every callback and API operation needs one of them."""
    description = doc()
    schemes = description["components"]["securitySchemes"]
    assert schemes["receiptToken"] == {**schemes["receiptToken"], "in": "query", "name": "token"}
    assert schemes["businessSignature"]["name"] == "Signature"
    assert schemes["tencentSign"] == {**schemes["tencentSign"], "in": "query", "name": "Sign"}
    assert schemes["apiKey"]["scheme"] == schemes["metricsToken"]["scheme"] == "bearer"
    for path, ops in description["paths"].items():
        for op in ops.values():
            if path.startswith(("/cams/", "/tencent/", "/v1/")):
                assert op["security"], path
                assert all(op["security"]), path
    assert {} in description["paths"]["/metrics"]["get"]["security"]  # a token is optional
    metrics = description["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]


def test_documented_samples_fit_the_models() -> None:
    """The items of a real-looking CAMS batch that the parser takes fit the receipt models."""
    adapter: TypeAdapter[Any] = TypeAdapter(CamsReceiptItem)
    batch = load_data("cams_mixed_batch.json")
    items = parse_receipts(json.dumps(batch).encode(), channel="whatsapp", now_ms=0)
    for raw, item in zip(batch, items, strict=True):
        if not isinstance(item, BadItem):
            adapter.validate_python(raw)


# -- what the schemas allow, the parsers take ---------------------------------------------------


def _operation(path: str, method: str) -> Any:
    return schemathesis.openapi.from_dict(doc())[path][method]


def test_generated_receipts_parse_without_a_bad_item() -> None:
    strategy = _operation("/cams/receipts", "POST").as_strategy()

    @GENERATED
    @given(case=strategy)
    def check(case: Any) -> None:
        raw = json.dumps(case.body).encode()
        # On a channel of accounts (Messenger) every documented item parses; on WhatsApp an
        # item is refused only for a From or To that libphonenumber says is no number.
        items = parse_receipts(raw, channel="messenger", now_ms=1)
        assert not [i for i in items if isinstance(i, BadItem)], (case.body, items)
        for item in parse_receipts(raw, channel="whatsapp", now_ms=1):
            if isinstance(item, BadItem):
                assert item.reason.startswith(("From is not a phone", "To is not a phone"))

    check()


def test_generated_tencent_callbacks_parse() -> None:
    strategy = _operation("/tencent/callback", "POST").as_strategy()

    @GENERATED
    @given(case=strategy)
    def check(case: Any) -> None:
        body = dict(case.body)
        for command in (AFTER_SEND, BEFORE_SEND):
            if body.get("CallbackCommand") is not None:
                body["CallbackCommand"] = command
            for bot in (BOT, body["To_Account"].strip(), body["From_Account"].strip()):
                raw = json.dumps(body).encode()
                parse_callback(command, raw, identifier=bot, sdkappid=APP, opt_platform="Web")

    check()


def test_generated_business_calls_parse() -> None:
    strategy = _operation("/cams/business", "POST").as_strategy(media_type="application/json")

    @GENERATED
    @given(case=strategy)
    def check(case: Any) -> None:
        assume(isinstance(case.body, dict))  # the body is optional: the query may carry it
        fields = read_fields("application/json", json.dumps(case.body).encode(), {})
        try:  # on an account channel, refused only for a customer that is not text
            call = parse_business_call(
                fields, {}, default_business="8613800000000", default_channel="messenger"
            )
        except BadRequest as e:
            not_text = e.reason
        else:
            not_text = ""
        if not_text:
            # Extra fields are allowed, and the reader takes intent data under other names
            # too (DATA_FIELDS: `params`, `data`...): one that holds no object is refused.
            # (At the top level or one level down, as the reader looks.)
            levels = [case.body, *(v for v in case.body.values() if isinstance(v, dict))]
            other_data = any(
                str(k).lower() in DATA_FIELDS and not isinstance(v, dict | str | None)
                for level in levels
                for k, v in level.items()
            )
            assert not_text.endswith("not an account id") or (
                other_data and not_text == "intent data must be a JSON object"
            ), not_text
            return
        assert call.code == case.body["intentCode"].strip()
        try:  # on WhatsApp, refused only for a customer that is no phone number
            parse_business_call(fields, {}, default_business="8613800000000")
        except BadRequest as e:
            refused = e.reason
        else:
            refused = "the customer is not a phone number"
        assert refused.startswith("the customer is not a phone number")

    check()


def test_an_ignored_callback_is_still_parsed() -> None:
    """A callback between two other accounts is acknowledged as Ignored, not refused."""
    body = {
        "From_Account": "a",
        "To_Account": "b",
        "MsgSeq": 1,
        "MsgRandom": 2,
        "MsgTime": 3,
        "MsgBody": [],
    }
    parsed = parse_callback(
        AFTER_SEND, json.dumps(body).encode(), identifier=BOT, sdkappid=APP, opt_platform="Web"
    )
    assert isinstance(parsed, Ignored)
