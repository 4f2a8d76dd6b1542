"""The spec: derived from the marshmallow schemas, and equal to the committed openapi/ file."""

from __future__ import annotations

import json

import pytest

from api.openapi import SPEC_FILE, json_schema, render, served_spec
from api.schemas.commands import DowngradeRequest, UpgradeRequest, UpgradeResult
from api.schemas.revisions import RevisionPageSchema
from api.schemas.status import CurrentSchema

pytestmark = pytest.mark.usefixtures("sqlite_only")


def test_committed_spec_matches_what_the_app_serves(app):
    served = render(served_spec(app))
    assert SPEC_FILE.read_text() == served, (
        "openapi/swagger.json is stale: run `flask --app wsgi openapi export`"
    )


@pytest.mark.parametrize(
    ("name", "schema"),
    [
        ("Current", CurrentSchema),
        ("RevisionPage", RevisionPageSchema),
        ("UpgradeRequest", UpgradeRequest),
        ("DowngradeRequest", DowngradeRequest),
        ("UpgradeResult", UpgradeResult),
    ],
)
def test_swagger_models_are_the_marshmallow_schemas(app, name, schema):
    definitions = served_spec(app)["definitions"]
    assert definitions[name] == json.loads(json.dumps(json_schema(schema)))


def test_documented_operations(app):
    spec = served_spec(app)
    assert set(spec["paths"]) >= {
        "/revisions",
        "/revisions/{rev}",
        "/current",
        "/heads",
        "/branches",
        "/upgrade",
        "/downgrade",
        "/stamp",
        "/health",
    }
    upgrade = spec["paths"]["/upgrade"]["post"]
    assert upgrade["summary"].startswith("Upgrade the database")
    assert {"400", "404", "409", "422", "503"} <= set(upgrade["responses"])
    assert spec["definitions"]["DowngradeRequest"]["required"] == ["target"]
