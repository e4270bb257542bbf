"""Attest: supplier security assurance for UK government contracts."""

__version__ = "0.1.0"
