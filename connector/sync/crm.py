"""What the sync phases may ask of the CRM, and the Web API client a run uses.

The phases never get the client itself: pull and reconcile get a `CrmReader` (reads only),
push gets a `CrmWriter`. A dry run hands push a writer that records instead of sending, built
on a `ReadOnlyCrm`, so no path from a dry run leads to a CRM write method.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Literal, Protocol

from connector.config import Settings
from connector.dataverse.auth import secret_env_text
from connector.dataverse.batch import BatchOperation, BatchResult
from connector.dataverse.client import MAX_PAGE_SIZE, ChangePage, DataverseClient
from connector.errors import InvalidInput
from connector.logs import register_secret


class CrmReader(Protocol):
    """The reads the sync phases make."""

    @property
    def concurrency(self) -> int: ...

    def read_changes(
        self, entity_set: str, select: list[str], key: str, delta_link: str | None,
        page_size: int = ..., on_expired: Literal["raise", "reread"] = ...,
        lookup_types: bool = ...,
    ) -> Iterator[ChangePage]: ...

    def query_in(
        self, entity_set: str, prop: str, values: list[str], *, select: list[str],
        page_size: int = ...,
    ) -> Iterator[dict[str, Any]]: ...


class CrmWriter(CrmReader, Protocol):
    """The reads, plus the two writes push makes."""

    def create_multiple(
        self, entity_set: str, logical_name: str, rows: list[dict[str, Any]], *,
        key: str | None = None,
    ) -> list[str]: ...

    def execute_batch(
        self, operations: list[BatchOperation], continue_on_error: bool = False,
        atomic: bool = False,
    ) -> list[BatchResult]: ...


class ReadOnlyCrm:
    """A client's reads and nothing else: it has no method that writes to the CRM."""

    def __init__(self, client: DataverseClient) -> None:
        self._client = client

    @property
    def concurrency(self) -> int:
        return self._client.concurrency

    def read_changes(
        self, entity_set: str, select: list[str], key: str, delta_link: str | None,
        page_size: int = MAX_PAGE_SIZE, on_expired: Literal["raise", "reread"] = "raise",
        lookup_types: bool = False,
    ) -> Iterator[ChangePage]:
        return self._client.read_changes(
            entity_set, select, key, delta_link, page_size, on_expired=on_expired,
            lookup_types=lookup_types,
        )

    def query_in(
        self, entity_set: str, prop: str, values: list[str], *, select: list[str],
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        return self._client.query_in(entity_set, prop, values, select=select,
                                     page_size=page_size)


def make_client(settings: Settings) -> DataverseClient:
    crm = settings.crm
    missing = [key for key in ("url", "tenant_id", "client_id") if not getattr(crm, key)]
    if missing:
        raise InvalidInput(
            f"{settings.source}: [crm] {missing[0]} is required for this command "
            f"(or environment variable SEQSYNC_CRM__{missing[0].upper()})"
        )
    if crm.certificate_path is None and not os.environ.get(crm.client_secret_env):
        raise InvalidInput(
            f"{settings.source}: [crm] no credential: set the environment variable "
            f"{secret_env_text(crm)} (named by client_secret_env) or certificate_path"
        )
    for key in ("ca_bundle", "certificate_path"):
        path = getattr(crm, key)
        if path is not None and not path.is_file():
            raise InvalidInput(f"{settings.source}: [crm] {key}: no such file: {path}")
    register_secret(os.environ.get(crm.client_secret_env))
    cap = settings.sync.max_workers or settings.sync.max_workers_cap
    return DataverseClient(crm, max_concurrency=cap)
