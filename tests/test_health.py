"""GET /health and /ready: probes that need no token and tell a stranger nothing sensitive."""

from __future__ import annotations

import json

from api import create_app, db
from tests.revision_graph import ALL
from tests.servers import free_port


def test_health_and_ready_answer_without_a_token(app, client):
    anonymous = app.test_client()
    assert anonymous.get("/health").get_json() == {"status": "ok"}
    ready = anonymous.get("/ready")
    assert ready.status_code == 200
    assert ready.get_json() == {"database": "ok", "migrations": "ok"}
    # Still ready once the database is versioned.
    assert client.post("/upgrade").status_code == 200
    assert anonymous.get("/ready").status_code == 200


def test_ready_names_what_is_down_and_nothing_more(migrations, tmp_path):
    secret_url = f"postgresql://admin:hunter2@127.0.0.1:{free_port()}/payroll"
    cases = {
        "database": {"DATABASE_URL": secret_url, "MIGRATIONS_DIR": str(migrations.path)},
        "migrations": {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ready.sqlite'}",
            "MIGRATIONS_DIR": str(tmp_path / "no-such-migrations"),
        },
    }
    for down, config in cases.items():
        app = create_app(config)
        answer = app.test_client().get("/ready")
        with app.app_context():
            db.engine.dispose()
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        assert answer.content_type == "application/problem+json"
        body = answer.get_json()
        assert body["type"].endswith(":not-ready")
        up = ({"database", "migrations"} - {down}).pop()
        assert body["checks"] == {down: "unavailable", up: "ok"}
        text = json.dumps(body)
        for secret in ("hunter2", "payroll", "127.0.0.1", "postgresql", str(tmp_path), *ALL):
            assert secret not in text
