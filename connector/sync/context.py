"""What every phase of a run shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from connector.config import Settings
from connector.sync.progress import Progress
from connector.sync.report import RunReport

if TYPE_CHECKING:
    from connector.app import App
    from connector.dataverse.client import DataverseClient
    from connector.mapping import Mappings


@dataclass
class SyncContext:
    app: App
    client: DataverseClient
    mappings: Mappings
    settings: Settings
    now: datetime
    report: RunReport
    progress: Progress
    full_read: bool = False  # `sync --full`: ignore the saved delta links

    @property
    def engine(self) -> Engine:
        return self.app.store.engine

    @property
    def page_size(self) -> int:
        return self.settings.sync.page_size
