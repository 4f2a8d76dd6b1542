"""Swagger models derived from the marshmallow schemas, so no shape is written twice."""

from __future__ import annotations

import json
from pathlib import Path

import click
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from flask_restx import Namespace
from marshmallow import Schema

from api.config import PROJECT_ROOT

SPEC_FILE = PROJECT_ROOT / "openapi" / "swagger.json"


def _plugin() -> MarshmallowPlugin:
    # Returning None for every schema inlines nested schemas, so each model stands alone.
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)
    APISpec(title="-", version="-", openapi_version="2.0", plugins=[plugin])
    return plugin


def json_schema(schema: type[Schema] | Schema) -> dict:
    """The JSON Schema (Swagger 2.0 flavour) of a marshmallow schema, as a response sees it."""
    return _plugin().converter.schema2jsonschema(schema)


def model(ns: Namespace, schema: type[Schema]):
    """Register ``schema`` on ``ns`` as a Swagger model named after the schema class."""
    name = schema.__name__.removesuffix("Schema")
    return ns.schema_model(name, json_schema(schema))


def query_params(schema: type[Schema]) -> dict:
    """Swagger query parameters for ``@ns.doc(params=...)`` from a marshmallow schema."""
    params = _plugin().converter.schema2parameters(schema, location="query")
    return {p.pop("name"): p for p in params}


def served_spec(app: Flask) -> dict:
    """The spec exactly as GET /swagger.json serves it."""
    with app.test_client() as client:
        return client.get("/swagger.json").get_json()


def render(spec: dict) -> str:
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


def init_app(app: Flask) -> None:
    """Add ``flask openapi export``, which writes the served spec to openapi/."""

    @app.cli.group("openapi")
    def openapi_cli():
        """The exported API description."""

    @openapi_cli.command("export")
    @click.option("--output", type=click.Path(path_type=Path), default=SPEC_FILE, show_default=True)
    def export(output: Path):
        """Write the spec the app serves to openapi/swagger.json."""
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render(served_spec(app)))
        click.echo(f"wrote {output}")
