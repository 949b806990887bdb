from annotate.models.dataset import Dataset, ImportJob, Item
from annotate.models.project import (
    PROJECT_PERMISSIONS,
    Project,
    ProjectGroupObjectPermission,
    ProjectUserObjectPermission,
)

__all__ = [
    "PROJECT_PERMISSIONS",
    "Dataset",
    "ImportJob",
    "Item",
    "Project",
    "ProjectGroupObjectPermission",
    "ProjectUserObjectPermission",
]
