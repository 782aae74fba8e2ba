"""Placeholder: this exercise is not built yet (see the open issues)."""

__all__ = ()
