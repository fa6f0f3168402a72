"""Imports every feature's models so that Base.metadata is complete (alembic, tests)."""

from access import models as access_models
from api.database import Base
from auth import models as auth_models
from extracts import models as extract_models
from forms import models as form_models
from notifications import models as notification_models
from records import models as record_models
from staff import models as staff_models
from wallet import models as wallet_models

__all__ = [
    "Base",
    "access_models",
    "auth_models",
    "extract_models",
    "form_models",
    "notification_models",
    "record_models",
    "staff_models",
    "wallet_models",
]
