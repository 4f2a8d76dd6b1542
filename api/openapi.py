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
from api.schemas.fields import REVISION_PATH_ARGS, ScriptDateTime, revision_constraints

SPEC_FILE = PROJECT_ROOT / "openapi" / "swagger.json"


def _plugin() -> MarshmallowPlugin:
    # Returning None for every schema inlines nested schemas, so each model stands alone.
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)
    APISpec(title="-", version="-", openapi_version="2.0", plugins=[plugin])
    # No "date-time" format: that promises an RFC 3339 offset the script may not have.
    plugin.map_to_openapi_type(ScriptDateTime, "string", None)
    return plugin


def json_schema(schema: type[Schema] | Schema) -> dict:
    """The JSON Schema (Swagger 2.0 flavour) of a marshmallow schema, as a response sees it,
    with the schema's ``Meta.example`` (apispec reads only ``title`` and ``description``)."""
    result = _plugin().converter.schema2jsonschema(schema)
    example = getattr(getattr(schema, "Meta", None), "example", None)
    if example is not None:
        result["example"] = example
    return result


def model(ns: Namespace, schema: type[Schema]):
    """Register ``schema`` on ``ns`` as a Swagger model named after the schema class."""
    name = schema.__name__.removesuffix("Schema")
    return ns.schema_model(name, json_schema(schema))


def query_params(schema: type[Schema], location: str = "query") -> dict:
    """Swagger query (or header) parameters for ``@ns.doc(params=...)`` from a marshmallow
    schema."""
    params = _plugin().converter.schema2parameters(schema, location=location)
    return {p.pop("name"): p for p in params}


# Where api.resources.problems_doc leaves an operation's problem examples for finish_spec,
# which moves each into its status's schema: RESTX's @ns.response cannot carry one.
PROBLEM_EXAMPLES = "x-problem-examples"


def finish_spec(
    spec: dict,
    problem_media_type: str,
    auth_problems: dict[str, dict],
    target_problems: dict[str, dict] | None = None,
) -> dict:
    """Add to RESTX's spec what it cannot declare API-wide: the problem media type, the 401
    and 403 of every operation a token guards (``auth_problems``, as
    api.problems.problem_responses gives them), each problem status's own example, whether a
    body is required (as its schema says), the revision-target constraints of every URL
    variable that names a revision (api.resources.parsing checks them), and the problems of
    naming a target (``target_problems``) on every call under /targets/{target}/."""
    spec["produces"] = [*spec.get("produces", []), problem_media_type]
    guarded = spec.get("security")
    definitions = spec.get("definitions", {})
    for path, item in spec.get("paths", {}).items():
        for key, operation in item.items():
            if key == "parameters":
                _constrain_revisions(operation)
                continue
            _constrain_revisions(operation.get("parameters", []))
            _require_body_as_its_schema(operation.get("parameters", []), definitions)
            responses = operation.setdefault("responses", {})
            examples = operation.pop(PROBLEM_EXAMPLES, {})
            if operation.get("security", guarded):
                for status, problem in auth_problems.items():
                    responses.setdefault(status, {"description": problem["description"]})
                    examples.setdefault(status, problem["example"])
            if path.startswith(TARGET_PATH):
                _add_problems(responses, examples, target_problems or {})
            for status, example in examples.items():
                # allOf: a $ref takes no sibling keywords, and Swagger UI shows this example
                # whichever response media type is selected.
                responses[status]["schema"] = {
                    "allOf": [{"$ref": "#/definitions/Problem"}],
                    "example": {**example, "instance": path},
                }
    return spec


# The per-target copies of the calls (api/resources/targets.py), as Swagger writes them.
TARGET_PATH = "/targets/{target}/"


def _add_problems(responses: dict, examples: dict, problems: dict[str, dict]) -> None:
    # Beside the call's own problems of the same status (an unknown revision is 404 too),
    # whose example stays first.
    for status, problem in problems.items():
        if status in responses:
            slugs = problem["description"].partition(": ")[2]
            responses[status]["description"] += ", " + slugs
        else:
            responses[status] = {"description": problem["description"]}
        examples.setdefault(status, problem["example"])


def _require_body_as_its_schema(parameters: list[dict], definitions: dict) -> None:
    # RESTX marks every expected body required; one whose every field has a default (POST
    # /upgrade) may be left out, and the spec must say so.
    for param in parameters:
        ref = param.get("schema", {}).get("$ref", "") if param.get("in") == "body" else ""
        if ref:
            param["required"] = bool(definitions[ref.rpartition("/")[2]].get("required"))


def _constrain_revisions(parameters: list[dict]) -> None:
    for param in parameters:
        if param.get("in") == "path" and param.get("name") in REVISION_PATH_ARGS:
            param.update(revision_constraints())


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
