"""Browser-facing layer: routes render templates, thin over app.services."""
