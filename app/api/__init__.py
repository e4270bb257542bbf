"""JSON API under /api, over the same services as the browser routes."""
