"""docker-compose.yml (there is no Docker engine here, so it is checked by parsing it), the
settings table in the README, and loud settings parsing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from annotate.settings.env import REGISTRY
from tests.helpers import django_start_up_error

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services_with_health_checks() -> None:
    services = COMPOSE["services"]
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert name in services, name
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    web = services["web"]["command"]
    # The server and app that make run and the browser tests serve (annotate.stack.web_command).
    assert web[:4] == ["granian", "--interface", "wsgi", "annotate.wsgi:application"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "workers.celery", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "workers.celery", "beat"]
    assert "manage.py" in services["migrate"]["command"][1]
    assert "--database=owner" in services["migrate"]["command"]


def test_compose_environment_names_are_settings_the_app_reads() -> None:
    for name in ("web", "worker", "beat", "migrate"):
        env = COMPOSE["services"][name]["environment"]
        unknown = set(env) - set(REGISTRY)
        assert not unknown, f"{name}: {unknown} are not settings (see annotate/settings)"
        for required in (
            "DATABASE_URL",
            "DATABASE_OWNER_URL",
            "CELERY_BROKER_URL",
            "DJANGO_SECRET_KEY",
            # Keys every service must share: blobs one wrote, another reads; checkpoints the
            # worker signs are verified against keys published once.
            "STORAGE_MASTER_KEYS",
            "AUDIT_SIGNING_KEYS",
        ):
            assert required in env, f"{name} lacks {required}"
    web = COMPOSE["services"]["web"]["environment"]
    # The app role and the owner role differ: RLS would not apply to the owner.
    assert web["DATABASE_URL"].split("@")[0] != web["DATABASE_OWNER_URL"].split("@")[0]


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", readme, flags=re.M))
    missing = set(REGISTRY) - documented
    assert not missing, f"settings missing from the README table: {sorted(missing)}"
    stale = (
        documented
        - set(REGISTRY)
        - {
            "DATABASE_ADMIN_URL",
            "HOST",
            "PORT",
            "WEB_CONCURRENCY",
            "WORKER_CONCURRENCY",
            "DEMO_PASSWORD",
            "PYTEST_ARGS",
        }
    )
    assert not stale, f"README documents settings that do not exist: {sorted(stale)}"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DJANGO_DEBUG", "yess", "DJANGO_DEBUG='yess' is not a boolean"),
        ("DB_CONN_MAX_AGE", "soon", "DB_CONN_MAX_AGE='soon' is not an integer"),
        ("API_PAGE_SIZE", "0", "API_PAGE_SIZE=0 is below the minimum of 1"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD' must be one of"),
        ("DATABASE_URL", "sqlite:///db.sqlite3", "PostgreSQL is the only supported database"),
        ("DATABASE_URL", "", "DATABASE_URL is required"),
    ],
)
def test_bad_setting_stops_start_up_and_names_it(name: str, value: str, message: str) -> None:
    stderr = django_start_up_error({name: value})
    assert message in stderr, stderr[-800:]
