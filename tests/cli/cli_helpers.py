"""Shared helpers for the CLI tests."""

from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from connector.app import open_app
from connector.cli.main import app
from connector.config import load_settings
from connector.engine.models import Record
from connector.pipeline.context import Message

NOW = "2026-03-02T10:00:00Z"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sequences"


def rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@dataclass
class Cli:
    config: Path
    runner: CliRunner

    def __call__(self, *args: str, code: int = 0):
        result = self.runner.invoke(app, ["--config", str(self.config), "--now", NOW, *args])
        assert result.exit_code == code, (
            f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
            f"\n{result.exception!r}"
        )
        if code >= 2:
            assert "Traceback" not in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        return result

    def seed(self, *records: Record) -> None:
        """Records arrive from the CRM through sync; here through the same message."""
        with open_app(load_settings(self.config)) as opened:
            opened.execute(Message.RECORD_CHANGED, list(records))


def leads(*numbers: int, **fields) -> list[Record]:
    return [Record(id=rid(n), table="lead", name=f"Lead {n}", owner_id=rid(900), **fields)
            for n in numbers]
