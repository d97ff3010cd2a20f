"""Build the Web API client a run uses, from `[crm]` and `[sync]`."""

from __future__ import annotations

import os

from connector.config import Settings
from connector.dataverse.auth import secret_env_text
from connector.dataverse.client import DataverseClient
from connector.errors import InvalidInput
from connector.logs import register_secret


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
