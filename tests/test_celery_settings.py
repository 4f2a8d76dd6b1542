"""CELERY_BROKER_URL, CELERY_QUEUE and CELERY_VISIBILITY_TIMEOUT, the Celery app they make,
and the worker command's refusals (a pool of threads, no broker)."""

from __future__ import annotations

import os
import subprocess

import pytest

from api.config import PROJECT_ROOT, ConfigurationError, load_config
from api.rollouts.celery_app import TASK, make_celery
from tests.celery_workers import CELERY

pytestmark = pytest.mark.usefixtures("sqlite_only")


def celery_config(**environ: str) -> dict:
    return {k: v for k, v in load_config(environ, "/nonexistent").items() if "CELERY" in k}


def test_without_a_broker_there_is_no_celery():
    assert celery_config() == {
        "CELERY_BROKER_URL": None,
        "CELERY_QUEUE": "migrateway",
        "CELERY_VISIBILITY_TIMEOUT": 6 * 3600.0,
    }
    with pytest.raises(ConfigurationError, match="CELERY_BROKER_URL is not set"):
        make_celery(load_config({}, "/nonexistent"))


@pytest.mark.parametrize(
    ("environ", "fault"),
    [
        ({"CELERY_BROKER_URL": "http://user:s3cret@host/"}, "CELERY_BROKER_URL must be"),
        ({"CELERY_BROKER_URL": "s3cret"}, "not a URL of scheme 'none'"),
        ({"CELERY_QUEUE": "two words"}, "CELERY_QUEUE must be"),
        ({"CELERY_QUEUE": "-x"}, "CELERY_QUEUE must be"),
        ({"CELERY_VISIBILITY_TIMEOUT": "0"}, "CELERY_VISIBILITY_TIMEOUT must be seconds"),
        ({"CELERY_VISIBILITY_TIMEOUT": "1e9"}, "CELERY_VISIBILITY_TIMEOUT must be seconds"),
    ],
)
def test_a_bad_setting_stops_the_start_in_one_line_without_the_password(environ, fault):
    with pytest.raises(ConfigurationError, match=fault) as raised:
        load_config(environ, "/nonexistent")
    assert "\n" not in str(raised.value) and "s3cret" not in str(raised.value)


def test_the_celery_app_delivers_at_least_once_and_one_task_per_process_at_a_time():
    redis = make_celery(
        load_config(
            {"CELERY_BROKER_URL": " redis://127.0.0.1:6379/3 ", "CELERY_VISIBILITY_TIMEOUT": "90"},
            "/nonexistent",
        )
    )
    conf = redis.conf
    assert conf.broker_url == "redis://127.0.0.1:6379/3"
    assert conf.task_default_queue == "migrateway"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.task_retry_on_worker_lost  # a retry counts the deaths; no limit, no delay
    task = redis.tasks[TASK]
    assert task.max_retries is None and task.default_retry_delay == 0
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit is None and conf.task_ignore_result
    assert conf.broker_transport_options == {"visibility_timeout": 90.0}
    rabbit = make_celery(
        load_config(
            {"CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//", "CELERY_QUEUE": "q1"},
            "/nonexistent",
        )
    )
    assert rabbit.conf.task_default_queue == "q1"
    assert not rabbit.conf.broker_transport_options  # Redis's alone


def worker(*args: str, **environ: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    return subprocess.run(
        [CELERY, "-A", "api.rollouts.celery_worker", "worker", *args],
        cwd=PROJECT_ROOT,
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_worker_refuses_a_pool_of_threads():
    # The broker is never reached: the refusal comes first.
    ran = worker("--pool", "threads", CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines()[-1] == (
        "migrateway worker: the thread pool runs tasks in one process side by side; "
        "run it with the default prefork pool (--pool prefork)"
    )


def test_the_worker_without_a_broker_says_so_in_one_line():
    ran = worker()
    assert ran.returncode == 1
    assert (
        ran.stderr.strip()
        .splitlines()[-1]
        .startswith("migrateway worker: CELERY_BROKER_URL is not set")
    )
