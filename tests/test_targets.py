"""Property tests of the revision-target rule: what it accepts Alembic can parse, and what it
refuses never reaches Alembic."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api import create_app, exceptions
from api.schemas.fields import REVISION_MAX_LENGTH, REVISION_PATTERN
from api.service.alembic_errors import revision_errors
from tests.revision_graph import BASE, FEATURE, MAIN, SECOND, TIP, standard_graph
from tests.tokens import TOKENS_JSON, authorized

pytestmark = pytest.mark.usefixtures("sqlite_only")

RELATIVE = re.compile(r"[+-][0-9]+")
ALLOWED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-@+")
# Where a database can stand on the standard graph: nowhere, linear, at the tip, on two heads.
CURRENT = [(), (BASE,), (SECOND,), (TIP,), (FEATURE, MAIN)]
PROPERTY = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

accepted = st.from_regex(REVISION_PATTERN, fullmatch=True).filter(
    lambda s: len(s) <= REVISION_MAX_LENGTH
)
# Close to real targets: symbols, ids and prefixes of the graph, labels, steps.
words = st.sampled_from(["head", "heads", "base", "feature", "aaaa", "cccc0000", TIP, "x"])
steps = st.sampled_from(["", "+1", "-1", "+2", "-3", "+99999", "-0"])
realistic = st.builds(
    lambda label, word, step: f"{label}{word}{step}",
    st.sampled_from(["", "feature@", "main@", "nolabel@"]),
    words,
    steps,
)
foreign = st.characters(codec="utf-8").filter(lambda c: c not in ALLOWED)
# A string with at least one character outside the set, anywhere.
outside = st.builds(lambda a, c, b: a + c + b, st.text(max_size=20), foreign, st.text(max_size=20))
too_long = st.text(alphabet=sorted(ALLOWED - {"@", "+", "-"}), min_size=129, max_size=300)


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    return ScriptDirectory(str(standard_graph(tmp_path_factory.mktemp("targets") / "m").path))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("targets-app")
    migrations = standard_graph(root / "migrations")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{root / 'target.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TOKENS": TOKENS_JSON,
            "MIGRATEWAY_TOKENS_FILE": None,
        }
    )
    return authorized(app.test_client())


def _plans(script: ScriptDirectory, target: str, current: tuple[str, ...]) -> None:
    """Resolve ``target`` the ways the service does: show, upgrade, downgrade, stamp."""
    attempts = [
        lambda: script.get_revision(target),
        lambda: list(script._upgrade_revs(target, current)),
        lambda: list(script._stamp_revs((target,), current)),
    ]
    # The service refuses "-1" from several heads itself (409) before Alembic guesses a branch.
    if not (RELATIVE.fullmatch(target) and len(current) > 1):
        attempts.append(lambda: list(script._downgrade_revs(target, current)))
    for attempt in attempts:
        try:
            with revision_errors(script.revision_map):
                attempt()
        except exceptions.Problem:
            pass  # unknown, ambiguous, several heads, unreachable: the domain errors


@PROPERTY
@given(target=st.one_of(accepted, realistic).filter(REVISION_PATTERN.fullmatch))
@example(target="feature@head")
@example(target="head-1")
@example(target="head+1")  # a step past the graph: Alembic asserts instead of raising
@example(target="feature@-1")
def test_alembic_parses_every_accepted_target(script, target):
    """Any exception other than a domain error here would be a 500."""
    for current in CURRENT:
        _plans(script, target, current)


@PROPERTY
@given(target=st.one_of(accepted, realistic).filter(REVISION_PATTERN.fullmatch))
def test_accepted_targets_answer_with_a_domain_status(client, target):
    r = client.get("/revisions/" + quote(target, safe=""))
    assert r.status_code in {200, 400, 404, 409}, r.get_json()
    for path in ("/upgrade", "/downgrade"):
        r = client.post(path, json={"target": target, "sql": True})
        assert r.status_code in {200, 400, 404, 409}, r.get_json()
        if r.status_code == 400:
            assert r.get_json()["type"].endswith(":ambiguous-revision")


@PROPERTY
@given(target=st.one_of(outside, too_long))
@example(target="head\n")
@example(target="label@")
@example(target="head; DROP TABLE x")
def test_refused_targets_are_400_before_alembic(client, target):
    for path in ("/upgrade", "/downgrade", "/stamp"):
        r = client.post(path, json={"target": target})
        assert r.status_code == 400, r.get_json()
        assert r.get_json()["type"].endswith(":invalid-request")
        assert "target" in r.get_json()["errors"]


@PROPERTY
@given(target=st.one_of(outside, too_long).filter(lambda s: "/" not in s))
@example(target="head\n")
@example(target="a" * 129)
def test_refused_path_revisions_are_400(client, target):
    """GET /revisions/<rev> checks its URL variable like a body's target ("/" routes away)."""
    r = client.get("/revisions/" + quote(target, safe=""))
    assert r.status_code == 400, r.get_json()
    assert "rev" in r.get_json()["errors"]


@pytest.mark.parametrize(
    ("target", "status"),
    [("a" * 63 + "@" + "b" * 64, 404), ("a" * 64 + "@" + "b" * 64, 400)],
)
def test_length_limit_is_128(client, target, status):
    """The pattern alone would allow 135 characters; the length rule cuts at 128."""
    assert REVISION_PATTERN.fullmatch(target)
    r = client.post("/upgrade", json={"target": target})
    assert r.status_code == status, r.get_json()
