"""Mappings: `mappings/*.toml` (data) -> CRM row to local record, and activity payloads."""

from connector.mapping.activity import ActivityMapping, PayloadPlan
from connector.mapping.errors import MappingError, RowError
from connector.mapping.loader import (
    ACTIVITY_FILES,
    Mappings,
    default_directory,
    load_for_settings,
    load_mappings,
)
from connector.mapping.target import TargetMapping

__all__ = [
    "ACTIVITY_FILES",
    "ActivityMapping",
    "MappingError",
    "Mappings",
    "PayloadPlan",
    "RowError",
    "TargetMapping",
    "default_directory",
    "load_for_settings",
    "load_mappings",
]
