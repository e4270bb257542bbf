"""Use cases: a session plus keyword arguments; they flush, never commit, never import fastapi."""
