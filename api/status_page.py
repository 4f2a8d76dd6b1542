"""GET /: the status page, a server-rendered shell whose script reads everything through the API.

The page holds no data, so it is public like /docs; each figure on it comes from an API call
the browser makes with the token the person types (kept in the tab's sessionStorage).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template

from api import __version__

# Where the page's script and style are served (public too: they hold no data).
STATIC_URL = "/status-page"
# Everything from the service itself, nothing inline: a script injected through a revision
# message could not run, and the page can reach no other origin. blob: is the graph's SVG,
# shown as an image (an image runs no script of its own).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # The page's URL says nothing secret, but nothing leaves with it either.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

page = Blueprint(
    "status_page",
    __name__,
    template_folder="templates",
    static_folder="static/status-page",
    static_url_path=STATIC_URL,
)


@page.get("/")
def status_page() -> Response:
    """The status page: where the database is, what is pending, the graph, the last
    operations, the plan of the pending upgrade and the integrity check."""
    return Response(render_template("status_page.html", version=__version__), headers=_HEADERS)


def init_app(app: Flask) -> None:
    """Serve the page at /; call before api.init_app, since the first rule for / wins and
    Flask-RESTX adds one of its own (answering 404)."""
    app.register_blueprint(page)
