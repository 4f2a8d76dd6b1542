"""Drift through the service: the application's models and the schema the last operation left,
each compared with the live database (svc.drift())."""

from __future__ import annotations

import sys

import pytest
import sqlalchemy as sa

from api import create_app
from api.metrics import render
from tests.apps import close_engines

# A column of the models that a migration adds, and the false positive Alembic then reports on
# the backend (api/service/drift_rules.py): (revision's column, model's column, rule).
FALSE_POSITIVES = {
    "sqlite": (
        "sa.Column('motto', sa.String(length=20), server_default='')",
        "motto = db.Column(db.String(20), server_default='')",
        "default_spelling",
    ),
    "postgresql": (
        "sa.Column('score', sa.Float(precision=10))",
        "score = db.Column(db.Float(precision=10))",
        "float_precision",
    ),
    "mysql": (
        "sa.Column('draft', sa.Boolean(), server_default=sa.false())",
        "draft = db.Column(db.Boolean, server_default=db.false())",
        "boolean_default",
    ),
}

REVISION = '''"""{message}

Revision ID: {revision}
Revises: {down}
Create Date: 2026-12-01 00:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '{revision}'
down_revision = '{down}'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('post', {column})


def downgrade():
    with op.batch_alter_table('post') as batch_op:
        batch_op.drop_column('{name}')
'''


@pytest.fixture
def project(projects, tmp_path, monkeypatch, forget_imports):
    """The blog application, comparing server defaults as well as types."""
    built = projects.flask(tmp_path / "project", migrate_args="compare_server_default=True")
    monkeypatch.syspath_prepend(str(built.root))
    return built


@pytest.fixture
def start(monkeypatch, database_url):
    """The service on the blog application as its files are now (models.py re-imported)."""
    services = []

    def start_service():
        for name in [m for m in sys.modules if m.split(".")[0] == "blog"]:
            del sys.modules[name]
        monkeypatch.setenv("BLOG_DATABASE_URL", database_url)
        services.append(create_app({"MIGRATEWAY_APP": "blog:create_app"}))
        return services[-1].extensions["migrateway"]

    yield start_service
    for service in services:
        close_engines(service)


def execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def add_to_post(project, field: str) -> None:
    """A field in the model Post of the blog's models.py (the first of its two classes)."""
    models = project.root / "blog" / "models.py"
    models.write_text(
        models.read_text().replace("\n\n\nclass Tag", f"\n    {field}\n\n\nclass Tag")
    )


def real(differences: list[dict]) -> list[tuple]:
    """The differences that count (not known false positives), in short."""
    return [(d["kind"], d["table"], d["column"]) for d in differences if not d["false_positive"]]


def test_nothing_after_a_clean_upgrade_then_a_hand_made_column_and_a_model_field(
    project, start, database_url
):
    svc = start()
    before = svc.drift()
    assert before["models"]["checked"] is False and "No revision" in before["models"]["reason"]
    assert before["schema"]["checked"] is False

    svc.upgrade()
    clean = svc.drift()
    # A false positive here fails: a clean upgrade of the models' own migrations is no drift.
    assert clean["models"] == {"checked": True, "ok": True, "differences": []}
    assert clean["schema"] == {"checked": True, "ok": True, "differences": []}

    execute(database_url, "ALTER TABLE post ADD COLUMN note VARCHAR(40)")
    by_hand = svc.drift()
    assert by_hand["schema"]["ok"] is False
    (added,) = by_hand["schema"]["differences"]
    assert (added["kind"], added["table"], added["column"]) == ("column_added", "post", "note")
    assert added["to"]["type"].startswith("VARCHAR") and added["to"]["nullable"] is True
    # The models have no such column: autogenerate would drop it.
    assert real(by_hand["models"]["differences"]) == [("remove_column", "post", "note")]
    assert by_hand["models"]["ok"] is False
    # /metrics counts them by part.
    metrics = render(svc).decode()
    assert 'migrateway_drift_differences{part="schema"} 1.0' in metrics
    assert 'migrateway_drift_differences{part="models"} 1.0' in metrics

    add_to_post(project, "note = db.Column(db.String(40))")
    add_to_post(project, "subtitle = db.Column(db.String(100), nullable=False)")
    svc = start()
    fields = svc.drift()["models"]
    assert fields["checked"] is True and fields["ok"] is False
    (subtitle,) = fields["differences"]
    assert (subtitle["kind"], subtitle["table"], subtitle["column"]) == (
        "add_column",
        "post",
        "subtitle",
    )
    assert subtitle["to"] == "VARCHAR(100)" and subtitle["false_positive"] is False


def test_a_known_false_positive_stays_out_of_ok(project, start, database_url, backend):
    column, field, rule = FALSE_POSITIVES[backend]
    name = field.split(" ", 1)[0]
    versions = project.migrations / "versions"
    (versions / "0f0f0f0f0f0f_extra.py").write_text(
        REVISION.format(
            message="extra column",
            revision="0f0f0f0f0f0f",
            down=project.revisions[-1],
            column=column,
            name=name,
        )
    )
    add_to_post(project, field)
    svc = start()
    svc.upgrade()

    found = svc.drift()["models"]
    assert found["checked"] is True and found["ok"] is True, found
    (marked,) = found["differences"]
    assert (marked["table"], marked["column"]) == ("post", name)
    assert marked["false_positive"] is True and marked["rule"] == rule
    assert 'migrateway_drift_differences{part="models"} 0.0' in render(svc).decode()
    assert svc.verify()["ok"] is True


# The Migrate() options of two applications: the first compares server defaults as well as
# types; the second compares no types and leaves out anything named "note" (include_object).
NOTE_LEFT_OUT = "include_object=lambda obj, name, kind, reflected, other: name != 'note'"
SETTINGS = {
    "compare_server_default=True": [
        ("modify_default", "post", "title"),
        ("modify_type", "post", "body"),
        ("remove_column", "post", "note"),
    ],
    f"compare_type=False, {NOTE_LEFT_OUT}": [],
}


@pytest.mark.parametrize("migrate_args", list(SETTINGS))
def test_env_py_settings_decide_what_is_compared(
    projects, tmp_path, monkeypatch, start, forget_imports, database_url, migrate_args
):
    built = projects.flask(tmp_path / "settings", migrate_args=migrate_args)
    monkeypatch.syspath_prepend(str(built.root))
    start().upgrade()
    execute(database_url, "ALTER TABLE post ADD COLUMN note VARCHAR(40)")
    models = built.root / "blog" / "models.py"
    models.write_text(
        models.read_text()
        .replace("body = db.Column(db.Text)", "body = db.Column(db.Integer)")
        .replace("nullable=False)", "nullable=False, server_default='untitled')")
    )
    found = start().drift()["models"]
    assert found["checked"] is True
    assert sorted(real(found["differences"])) == SETTINGS[migrate_args]
    assert found["ok"] is not SETTINGS[migrate_args]


def test_the_operation_log_is_never_drift(
    projects, tmp_path, monkeypatch, start, postgresql_only, forget_imports
):
    """With include_schemas, autogenerate reads every schema, the log's ``migrateway`` too."""
    built = projects.flask(tmp_path / "schemas", migrate_args="include_schemas=True")
    monkeypatch.syspath_prepend(str(built.root))
    svc = start()
    svc.upgrade()
    assert svc.drift()["models"] == {"checked": True, "ok": True, "differences": []}


def test_a_directory_without_its_application_has_no_models_to_compare(client, sqlite_only):
    """Without MIGRATEWAY_APP, env.py would compare the service's own models with a directory
    they do not belong to: every table a difference. Model drift says why it is not checked."""
    assert client.post("/upgrade").status_code == 200
    models = client.get("/verify").get_json()["drift"]["models"]
    assert models["checked"] is False and "MIGRATEWAY_APP" in models["reason"]
    assert client.get("/verify").get_json()["ok"] is True
