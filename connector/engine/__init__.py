"""The sequence engine: pure domain logic over `models`, no SQL, no HTTP, no clock."""
