"""Settings: one module per concern, assembled in ``base``. Values come from the environment."""

from annotate.settings.base import *  # noqa: F403
