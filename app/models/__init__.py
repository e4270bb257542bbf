"""Database tables, one module per area. Every table names itself; constraints are named
by convention (see base.py). Importing this package registers every table on `metadata`."""

from app.models.approvals import *  # noqa: F403
from app.models.base import *  # noqa: F403
from app.models.catalogues import *  # noqa: F403
from app.models.certificates import *  # noqa: F403
from app.models.core import *  # noqa: F403
from app.models.downloads import *  # noqa: F403
from app.models.imports import *  # noqa: F403
from app.models.notifications import *  # noqa: F403
from app.models.scanning import *  # noqa: F403
from app.models.summaries import *  # noqa: F403
