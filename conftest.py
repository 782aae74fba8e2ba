"""Root conftest: fixtures shared by tests/ and bench/ (warm pools live here)."""
