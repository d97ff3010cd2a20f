"""User plugins (import path and entry point) and the shipped business-hours plugin."""

import importlib.metadata
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pipeline_helpers import T0, add_records, add_sequence, make_settings
from sqlalchemy import select

from connector.app import open_app
from connector.config import BusinessHoursConfig
from connector.engine.models import ConnectRequest, Step, StepType
from connector.errors import InvalidInput
from connector.pipeline.context import Message
from connector.pipeline.loading import ENTRY_POINT_GROUP
from connector.plugins.business_hours import BusinessHours
from connector.store.schema import outbox
from connector.sync.plan import plan_due_batches

PLUGIN_MODULE = '''
from connector.pipeline.context import Message, Stage, plugin
from connector.errors import RuleViolation

CALLS = []

@plugin(Message.CREATE, Stage.PRE_VALIDATION, order=300)
def no_test_names(ctx):
    CALLS.append(ctx.target.name)
    if ctx.target.name.startswith("test"):
        raise RuleViolation("sequence names may not start with 'test'")

class Audit:
    message = "Activate"
    stage = 40
    order = 7

    def __init__(self, settings):
        self.user = settings.engine.user

    def execute(self, ctx):
        CALLS.append(("activated by", self.user, ctx.post_image.name))

BOTH = [no_test_names, Audit]
NOT_A_PLUGIN = 42
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "my_rules.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_rules

    my_rules.CALLS.clear()
    yield my_rules


def test_plugins_load_from_import_paths(tmp_path, plugin_module):
    settings = make_settings(tmp_path, plugins={"load": ["my_rules:BOTH"]})
    with open_app(settings, now=T0) as app:
        with pytest.raises(Exception, match="may not start with 'test'"):
            add_sequence(app, name="test one")
        add_sequence(app, name="Real")
    assert plugin_module.CALLS == ["test one", "Real", ("activated by", "seqsync", "Real")]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_module_xyz:thing", "cannot import 'no_such_module_xyz'"),
        ("my_rules:missing", "module 'my_rules' has no 'missing'"),
        ("my_rules", "expected 'package.module:attribute'"),
        ("my_rules:NOT_A_PLUGIN", "int is not a seqsync plugin"),
    ],
)
def test_bad_import_paths_are_named(tmp_path, plugin_module, path, message):
    settings = make_settings(tmp_path, plugins={"load": [path]})
    with pytest.raises(InvalidInput, match=message) as exc:
        open_app(settings)
    assert f"[plugins] load {path!r}" in str(exc.value)
    assert not (tmp_path / "state.db").exists()  # refused before touching the database


def test_plugins_load_from_the_entry_point_group(tmp_path, plugin_module, monkeypatch):
    groups = []

    def fake_entry_points(*, group):
        groups.append(group)
        return [importlib.metadata.EntryPoint("audit", "my_rules:Audit", group)]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    with open_app(make_settings(tmp_path), now=T0) as app:
        add_sequence(app, name="Via entry point")
    assert groups == [ENTRY_POINT_GROUP]
    assert plugin_module.CALLS == [("activated by", "seqsync", "Via entry point")]


def test_broken_entry_point_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda *, group: [
        importlib.metadata.EntryPoint("broken", "nowhere_xyz:thing", group)])
    with pytest.raises(InvalidInput, match=r"entry point 'broken' .* cannot load"):
        open_app(make_settings(tmp_path))


PARIS = BusinessHoursConfig(enabled=True, timezone="Europe/Paris", start_hour=9, end_hour=17)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-03-02 10:00", "2026-03-02 10:00"),  # Monday, open
        ("2026-03-02 08:59", "2026-03-02 09:00"),  # before opening
        ("2026-03-02 17:00", "2026-03-03 09:00"),  # closing time: next morning
        ("2026-03-06 18:30", "2026-03-09 09:00"),  # Friday evening: Monday
        ("2026-03-07 12:00", "2026-03-09 09:00"),  # Saturday
    ],
)
def test_business_hours_next_opening(local, expected):
    paris = ZoneInfo("Europe/Paris")
    moment = datetime.fromisoformat(local).replace(tzinfo=paris).astimezone(UTC)
    result = BusinessHours(PARIS).next_opening(moment)
    assert result.astimezone(paris).strftime("%Y-%m-%d %H:%M") == expected
    assert result.tzinfo is UTC


def test_business_hours_config_errors():
    with pytest.raises(InvalidInput, match="unknown time zone 'Mars/Olympus'"):
        BusinessHours(BusinessHoursConfig(timezone="Mars/Olympus"))
    with pytest.raises(InvalidInput, match="start_hour must be before end_hour"):
        BusinessHours(BusinessHoursConfig(start_hour=18, end_hour=9))


def test_business_hours_defers_planning_to_the_next_opening(tmp_path):
    settings = make_settings(tmp_path, plugins={"business_hours": {
        "enabled": True, "timezone": "Europe/Paris", "start_hour": 9, "end_hour": 17}})
    saturday = datetime(2026, 3, 7, 11, 0, tzinfo=UTC)
    monday_nine = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # 09:00 in Paris (UTC+1)
    with open_app(settings, now=saturday) as app:
        seq = add_sequence(app, steps=(Step(id="e", type=StepType.EMAIL, name="Hi"),))
        ids = add_records(app, 1)
        app.execute(Message.CONNECT, ConnectRequest(seq.id, ids))
        (result,) = plan_due_batches(app, saturday)
        assert (result.planned, result.deferred) == (0, 1)
        assert list(plan_due_batches(app, monday_nine - timedelta(minutes=1))) == []
        (result,) = plan_due_batches(app, monday_nine + timedelta(hours=2))
        assert result.planned == 1
        with app.store.begin() as db:
            assert db.execute(select(outbox.c.due_at)).scalar_one() == monday_nine
