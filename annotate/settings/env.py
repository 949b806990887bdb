"""Read settings from the environment, loudly.

Every helper names the variable in its error, so a bad value stops start-up with a
message an operator can act on ("DJANGO_DEBUG='yess' is not a boolean ..."). Each call also
records the setting in ``REGISTRY`` so the README table and a test can check that every
variable is documented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


REGISTRY: dict[str, Setting] = {}


def _raw(name: str, default: Any, help: str) -> str | None:
    REGISTRY[name] = Setting(name, default, help)
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    return value


def env_str(name: str, default: str | None, help: str) -> str | None:
    value = _raw(name, default, help)
    return default if value is None else value


def env_required(name: str, help: str) -> str:
    value = _raw(name, None, help)
    if value is None:
        raise ImproperlyConfigured(f"{name} is required: {help}")
    return value


def env_bool(name: str, default: bool, help: str) -> bool:
    value = _raw(name, default, help)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of: {', '.join(sorted(_TRUE | _FALSE))}"
    )


def env_int(
    name: str, default: int, help: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = _raw(name, default, help)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum of {maximum}")
    return number


def env_list(name: str, default: list[str], help: str) -> list[str]:
    value = _raw(name, ",".join(default), help)
    if value is None:
        return list(default)
    return [part.strip() for part in value.split(",") if part.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...], help: str) -> str:
    value = _raw(name, default, help)
    if value is None:
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value


def env_db(name: str, help: str, *, required: bool) -> dict[str, Any] | None:
    value = _raw(name, None, help)
    if value is None:
        if required:
            raise ImproperlyConfigured(
                f"{name} is required: {help}. `make run` / `make test` set it for you "
                "(embedded PostgreSQL) when it is not given."
            )
        return None
    try:
        config = environ.Env.db_url_config(value)
    except Exception as exc:  # environ raises several types; name the variable whatever it is
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
    # A Unix-socket directory is written percent-encoded in the host part (%2Fvar%2Frun...).
    config["HOST"] = unquote(str(config.get("HOST") or ""))
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            f"{name} must be a postgres:// URL: PostgreSQL is the only supported database "
            "(row-level security is one of the isolation walls); "
            f"got engine {config.get('ENGINE')!r}"
        )
    return config
