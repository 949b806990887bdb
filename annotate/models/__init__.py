from annotate.models.project import (
    PROJECT_PERMISSIONS,
    Project,
    ProjectGroupObjectPermission,
    ProjectUserObjectPermission,
)

__all__ = [
    "PROJECT_PERMISSIONS",
    "Project",
    "ProjectGroupObjectPermission",
    "ProjectUserObjectPermission",
]
