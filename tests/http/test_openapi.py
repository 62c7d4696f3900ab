"""/openapi.json is a valid OpenAPI 3.1 document generated from the routes; /docs renders it."""

import jsonschema
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31

from bot.http.server import ROUTES
from tests.http.support import Api

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_document_validates_as_openapi_3_1(api: Api) -> None:
    reply = await api.get("/openapi.json")
    assert 200 == reply.status
    doc = reply.json
    assert "3.1.0" == doc["openapi"]
    jsonschema.Draft202012Validator(OPENAPI_31).validate(doc)  # the official 3.1 meta-schema
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)  # raises, naming the problem


async def test_every_declared_route_is_documented_with_its_models(api: Api) -> None:
    doc = (await api.get("/openapi.json")).json
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert {(r.method, r.path) for r in ROUTES} == documented
    create = doc["paths"]["/v1/jobs"]["post"]
    assert (
        "#/components/schemas/JobCreate"
        == (create["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    )
    assert {"201", "200", "401", "404", "409", "422", "429", "default"} <= set(create["responses"])
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]
    upload = doc["paths"]["/v1/datasets"]["post"]["requestBody"]["content"]
    assert "binary" == upload["multipart/form-data"]["schema"]["properties"]["file"]["format"]
    events = doc["paths"]["/v1/jobs/{id}/events"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/event-stream"} == set(events)


async def test_security_is_declared_bearer_except_health_and_hooks(api: Api) -> None:
    doc = (await api.get("/openapi.json")).json
    assert "bearer" == doc["components"]["securitySchemes"]["bearer"]["scheme"]
    assert [{"bearer": []}] == doc["security"]
    assert [] == doc["paths"]["/healthz"]["get"]["security"]
    hook = doc["paths"]["/v1/hooks/{name}"]["post"]["security"]
    assert [{"hookToken": []}, {"hookSignature": []}] == hook


async def test_docs_page_lists_operations_and_schemas_without_scripts(api: Api) -> None:
    reply = await api.get("/docs")
    assert 200 == reply.status
    assert reply.headers["Content-Type"].startswith("text/html")
    page = reply.text
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for route in ROUTES:
        assert route.path in page
    assert "id='JobCreate'" in page and "hyperparameters" in page
