"""Errors a user can act on, each with the exit code the CLI turns it into.

Every command maps these the same way: 0 success, 1 finished with per-record failures,
2 invalid input, 3 the CRM could not be reached or refused authentication, 75 lock held.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_INVALID = 2
EXIT_CRM = 3
EXIT_LOCKED = 75


class SeqsyncError(Exception):
    """Base: the message is one line, already phrased for the user."""

    exit_code = EXIT_INVALID


class InvalidInput(SeqsyncError):
    """Usage, sequence file, mapping or argument problem."""


class RuleViolation(SeqsyncError):
    """A product rule refused the operation (for example: editing an active sequence)."""


class EditConflict(RuleViolation):
    """The thing being saved changed since the editor read it (optimistic concurrency)."""


class NotFound(SeqsyncError):
    """A sequence, step or record named by the user does not exist."""


class CrmUnavailable(SeqsyncError):
    """The CRM could not be reached, or refused authentication."""

    exit_code = EXIT_CRM


class LockHeld(SeqsyncError):
    """Another sync run holds the state lock."""

    exit_code = EXIT_LOCKED


class StateError(SeqsyncError):
    """The state database cannot be used (newer schema, locked, disk full)."""


def printable(text: str) -> str:
    """A name from user input, safe on one line: control characters shown escaped."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
