"""Placeholder until the family lands."""

__all__: list[str] = []
