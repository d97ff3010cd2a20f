"""docs/mappings.md documents every key a mapping file accepts, so the two cannot drift apart."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from connector.mapping import ActivityMapping, SignalMapping, TargetMapping, TemplateMapping

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mappings.md"


def keys(model: type[BaseModel]) -> set[str]:
    found: set[str] = set()
    for name, info in model.model_fields.items():
        found.add(info.alias or name)
        annotation = info.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found |= keys(candidate)
    return found


def test_every_mapping_key_is_documented() -> None:
    text = DOCS.read_text()
    all_keys = (keys(TargetMapping) | keys(ActivityMapping) | keys(SignalMapping)
                | keys(TemplateMapping))
    assert {"recipient", "party", "canceled_status", "constants", "due"} <= all_keys
    missing = sorted(k for k in all_keys if f"`{k}`" not in text and f"[{k}]" not in text)
    assert missing == []
