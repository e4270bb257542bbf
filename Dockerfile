# Attest: one image for every app process. Migrations run at start; serve on 0.0.0.0:8000.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ATTEST_DATA_DIR=/srv/attest/var \
    ATTEST_EVIDENCE_DIR=/srv/attest/evidence \
    ATTEST_CONTROLS_DIR=/srv/attest/controls

WORKDIR /srv/attest
RUN groupadd --system attest && useradd --system --gid attest --home /srv/attest attest

COPY pyproject.toml README.md ./
COPY app ./app
COPY controls ./controls
COPY templates ./templates
# Editable install: templates/ and controls/ stay beside the package, as in a checkout.
RUN pip install --no-cache-dir -e . && mkdir -p var evidence && chown -R attest:attest var evidence

USER attest
VOLUME ["/srv/attest/var", "/srv/attest/evidence"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["sh", "-c", "attest db upgrade && exec attest serve --host 0.0.0.0 --port 8000"]
