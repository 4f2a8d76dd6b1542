"""The problem+json answers of each operation, documented from api.exceptions' classes."""

from __future__ import annotations

from flask_restx import Namespace
from werkzeug.exceptions import HTTPException

from api.exceptions import DatabaseUnavailable, MigrationsUnavailable, Problem
from api.openapi import PROBLEM_EXAMPLES, json_schema
from api.problems import problem_responses
from api.schemas.problem import ProblemSchema

_PROBLEM_SCHEMA = json_schema(ProblemSchema)
# What every call that reads the database or the migrations directory may answer.
UNAVAILABLE = (DatabaseUnavailable, MigrationsUnavailable)


def documents_problems(ns: Namespace, *kinds: type[Problem] | type[HTTPException]):
    """Document that the operation answers with these problems: per status, a description
    naming their types and the first one's body as the example (api.openapi.finish_spec puts
    it in place)."""
    problem = ns.schema_model("Problem", _PROBLEM_SCHEMA)
    responses = problem_responses(*kinds)

    def decorate(func):
        for status, response in responses.items():
            func = ns.response(int(status), response["description"], problem)(func)
        examples = {status: response["example"] for status, response in responses.items()}
        return ns.vendor({PROBLEM_EXAMPLES: examples})(func)

    return decorate
