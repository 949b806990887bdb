from annotate.models.dataset import Dataset, ImportJob, Item
from annotate.models.project import (
    PROJECT_PERMISSIONS,
    Project,
    ProjectGroupObjectPermission,
    ProjectUserObjectPermission,
)
from annotate.models.work import (
    Annotation,
    Competitor,
    ItemAgreement,
    Lease,
    QueueEpoch,
    QueuePosition,
    Review,
)

__all__ = [
    "PROJECT_PERMISSIONS",
    "Annotation",
    "Competitor",
    "Dataset",
    "ImportJob",
    "Item",
    "ItemAgreement",
    "Lease",
    "Project",
    "ProjectGroupObjectPermission",
    "ProjectUserObjectPermission",
    "QueueEpoch",
    "QueuePosition",
    "Review",
]
