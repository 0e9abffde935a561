"""Hardening tests; the audit's case count is printed by the root conftest.py."""
