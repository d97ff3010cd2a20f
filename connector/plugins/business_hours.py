"""Example plugin: plan activities only inside business hours, in a time zone.

Enable it in seqsync.toml:

    [plugins.business_hours]
    enabled = true
    timezone = "Europe/Paris"
    start_hour = 9
    end_hour = 17
    weekdays = [0, 1, 2, 3, 4]   # Monday = 0

It runs on StepDue at PreOperation. It does not plan anything itself: it hands the engine a
due-time adjuster (the context's typed `due_adjusters`), and the engine defers an activity
step whose due time is outside working hours to the next opening. The connection stays
scheduled with that due time and is planned by the first sync run after it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.config import BusinessHoursConfig, Settings
from connector.engine.models import Step
from connector.errors import InvalidInput
from connector.pipeline.context import Context, Message, Stage


class BusinessHours:
    """Moves due times outside [start_hour, end_hour) on `weekdays` to the next opening."""

    message = Message.STEP_DUE
    stage = Stage.PRE_OPERATION
    order = 500
    name = "business-hours"

    def __init__(self, settings: Settings | BusinessHoursConfig) -> None:
        config = settings.plugins.business_hours if isinstance(settings, Settings) else settings
        try:
            self.zone = ZoneInfo(config.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"[plugins.business_hours] timezone: unknown time zone {config.timezone!r}"
            ) from None
        if config.start_hour >= config.end_hour:
            raise InvalidInput(
                "[plugins.business_hours] start_hour must be before end_hour "
                f"(got {config.start_hour} and {config.end_hour})"
            )
        if not config.weekdays or any(not 0 <= d <= 6 for d in config.weekdays):
            raise InvalidInput("[plugins.business_hours] weekdays: use 0 (Monday) to 6 (Sunday)")
        self.start = config.start_hour
        self.end = config.end_hour
        self.weekdays = frozenset(config.weekdays)

    def execute(self, context: Context) -> None:
        context.due_adjusters.append(self.adjust)

    def adjust(self, step: Step, due: datetime) -> datetime:
        del step  # every activity type gets the same working hours
        return self.next_opening(due)

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself when inside working hours, else the next start of working hours."""
        local = moment.astimezone(self.zone)
        if local.weekday() in self.weekdays and self.start <= local.hour < self.end:
            return moment
        day = local.date()
        if local.hour >= self.start:
            day += timedelta(days=1)  # today's opening has passed (or is past closing)
        while day.weekday() not in self.weekdays:
            day += timedelta(days=1)
        opening = datetime(day.year, day.month, day.day, self.start, tzinfo=self.zone)
        return opening.astimezone(moment.tzinfo)
