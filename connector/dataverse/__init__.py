"""Dataverse Web API client: MSAL auth, retries, paging, change tracking, bulk writes."""

from connector.dataverse.auth import MsalTokenProvider, TokenProvider
from connector.dataverse.batch import BatchOperation, BatchResult
from connector.dataverse.client import ChangePage, DataverseClient
from connector.dataverse.errors import (
    AuthFailed,
    BadResponse,
    CrmUnreachable,
    DataverseError,
    DeltaTokenExpired,
    DuplicateKey,
    NotFound,
    PreconditionFailed,
    ServerBusy,
    Throttled,
    TransientError,
    is_busy,
    means_exists,
)

__all__ = [
    "AuthFailed",
    "BadResponse",
    "BatchOperation",
    "BatchResult",
    "ChangePage",
    "CrmUnreachable",
    "DataverseClient",
    "DataverseError",
    "DeltaTokenExpired",
    "DuplicateKey",
    "MsalTokenProvider",
    "NotFound",
    "PreconditionFailed",
    "ServerBusy",
    "Throttled",
    "TokenProvider",
    "TransientError",
    "is_busy",
    "means_exists",
]
