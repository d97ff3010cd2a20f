"""User plugins: the `seqsync.plugins` entry-point group and `[plugins] load` import paths.

A plugin object may be a PluginStep (for example made with `@plugin(...)`), a list or tuple
of them, or a class with `message`, `stage`, optional `order`/`mode`/`table` attributes and an
`execute(self, context)` method (Dataverse's IPlugin shape); a class is built with the
Settings when its constructor takes an argument.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from typing import Any

from connector.config import Settings
from connector.errors import InvalidInput
from connector.pipeline.context import Mode, PluginStep

ENTRY_POINT_GROUP = "seqsync.plugins"


def as_steps(obj: Any, settings: Settings, origin: str) -> list[PluginStep]:
    if isinstance(obj, PluginStep):
        return [obj]
    if isinstance(obj, list | tuple):
        return [step for item in obj for step in as_steps(item, settings, origin)]
    if inspect.isclass(obj) and hasattr(obj, "execute") and hasattr(obj, "message"):
        takes_settings = len(inspect.signature(obj).parameters) > 0
        instance = obj(settings) if takes_settings else obj()
        return [PluginStep(
            message=obj.message, stage=obj.stage, handler=instance.execute,
            order=getattr(obj, "order", 100), mode=getattr(obj, "mode", Mode.SYNC),
            name=getattr(obj, "name", obj.__qualname__), table=getattr(obj, "table", None),
        )]
    raise InvalidInput(
        f"{origin}: {type(obj).__name__} is not a seqsync plugin "
        "(expected a PluginStep, a list of them, or a class with message, stage and execute)"
    )


def load_path(path: str, settings: Settings) -> list[PluginStep]:
    """Import "package.module:attribute" and turn it into plugin steps."""
    origin = f"[plugins] load {path!r}"
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise InvalidInput(f"{origin}: expected 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise InvalidInput(f"{origin}: cannot import {module_name!r}: {exc}") from None
    try:
        obj = getattr(module, attribute)
    except AttributeError:
        raise InvalidInput(f"{origin}: module {module_name!r} has no {attribute!r}") from None
    try:
        return as_steps(obj, settings, origin)
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(f"{origin}: {type(exc).__name__}: {exc}") from None


def load_entry_points(settings: Settings) -> list[PluginStep]:
    steps: list[PluginStep] = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {entry.name!r} ({entry.value}) in group {ENTRY_POINT_GROUP}"
        try:
            obj = entry.load()
            steps.extend(as_steps(obj, settings, origin))
        except InvalidInput:
            raise
        except Exception as exc:
            raise InvalidInput(f"{origin}: cannot load: {type(exc).__name__}: {exc}") from None
    return steps


def load_user_plugins(settings: Settings) -> list[PluginStep]:
    steps = load_entry_points(settings)
    for path in settings.plugins.load:
        steps.extend(load_path(path, settings))
    return steps
