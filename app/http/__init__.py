"""The HTTP layer both the pages (app.web) and the JSON API (app.api) stand on: who is calling,
load-or-refuse dependencies, errors, CSRF, middleware and upload parsing."""
