"""Which target a request is about: the ``<target>`` of a ``/targets/<target>/...`` URL."""

from __future__ import annotations

from flask import Flask, g

PREFIX_RULE = "/targets/<string:target>"
_KEY = "migrateway_target"


def current_target() -> str | None:
    """The target the current request names; None for an unscoped call (DATABASE_URL)."""
    return g.get(_KEY)


def url_prefix() -> str:
    """What this request's URLs start with: ``/targets/<name>`` or nothing."""
    name = current_target()
    return f"/targets/{name}" if name is not None else ""


def unscoped_rule(rule: str) -> str:
    """The unscoped rule a per-target rule stands for (``/targets/<..>/upgrade`` -> ``/upgrade``),
    so a per-target call needs the scope of the same call on DATABASE_URL."""
    if rule.startswith(PREFIX_RULE + "/"):
        return rule[len(PREFIX_RULE) :]
    return rule


def _take_target(_endpoint: str | None, values: dict | None) -> None:
    # Taken out of the view arguments: the resources are the unscoped ones, registered again.
    if values and "target" in values:
        setattr(g, _KEY, values.pop("target"))


def init_app(app: Flask) -> None:
    """Note each request's target before any view (and before auth) runs."""
    app.url_value_preprocessor(_take_target)
