"""Helpers shared by the end-to-end suites (tests/ is on pytest\x27s pythonpath)."""
