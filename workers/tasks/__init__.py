"""Task modules. Tasks are thin: ids in, one service call, no business logic here."""

from workers.tasks import audit, distribution, exports, imports, isolation  # noqa: F401
