"""The problem+json model, documented on every operation that can answer with one."""

from __future__ import annotations

from http import HTTPStatus

from flask_restx import Namespace

from api.openapi import json_schema
from api.schemas.problem import ProblemSchema

_PROBLEM_SCHEMA = json_schema(ProblemSchema)


def documents_problems(ns: Namespace, *statuses: int):
    """Document that the operation answers these statuses with a problem+json body."""
    problem = ns.schema_model("Problem", _PROBLEM_SCHEMA)

    def decorate(func):
        for status in statuses:
            func = ns.response(status, HTTPStatus(status).phrase, problem)(func)
        return func

    return decorate
