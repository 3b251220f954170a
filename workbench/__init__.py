"""Misalignment workbench."""
