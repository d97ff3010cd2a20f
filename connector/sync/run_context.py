"""What every phase of a run shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from connector.config import Settings
from connector.sync.crm import CrmReader
from connector.sync.progress import Progress
from connector.sync.report import RunReport

if TYPE_CHECKING:
    from connector.app import App
    from connector.mapping import Mappings
    from connector.store.db import Store


@dataclass
class SyncContext:
    app: App
    crm: CrmReader  # reads only: push is handed its writer separately
    mappings: Mappings
    settings: Settings
    now: datetime
    report: RunReport
    progress: Progress

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def page_size(self) -> int:
        return self.settings.sync.page_size
