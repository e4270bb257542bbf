# Attest: one image for every process of an installation: `attest serve` (the default command),
# `attest worker`, and `attest db upgrade`. The image never migrates by itself: run
# `attest db upgrade` once per release, before the new web and worker containers start
# (compose.yaml's one-off `migrate` service). It takes a lock, so a second one started beside
# it waits and then finds nothing to do.
#
# Debian 12 (bookworm), the release whose package names deploy/debian-runtime.txt lists.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ATTEST_DATA_DIR=/srv/attest/var \
    ATTEST_EVIDENCE_DIR=/srv/attest/evidence \
    ATTEST_CONTROLS_DIR=/srv/attest/controls

# Pango, HarfBuzz and fonts for WeasyPrint (the ISAS PDF). The list is the one the Makefile's
# runtime-deps target installs on a developer's machine (tests/test_deployment.py checks that
# nothing else installs system packages, here or there).
COPY deploy/debian-runtime.txt /tmp/debian-runtime.txt
RUN apt-get update \
    && sed -e 's/#.*//' /tmp/debian-runtime.txt \
       | DEBIAN_FRONTEND=noninteractive xargs --no-run-if-empty apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* /tmp/debian-runtime.txt

WORKDIR /srv/attest
# A fixed numeric id, so an orchestrator can check it is not root (runAsNonRoot).
RUN groupadd --system --gid 10001 attest \
    && useradd --system --uid 10001 --gid attest --home-dir /srv/attest --no-create-home attest

COPY pyproject.toml README.md requirements.lock ./
COPY app ./app
COPY controls ./controls
COPY templates ./templates
# Exactly the locked versions, every file checked against its hash, then Attest itself without
# dependencies. Editable: templates/ and controls/ stay beside the package, as in a checkout.
RUN pip install --no-cache-dir --require-hashes -r requirements.lock \
    && pip install --no-cache-dir --no-deps -e . \
    && mkdir -p var evidence \
    && chown -R attest:attest var evidence

USER 10001:10001
VOLUME ["/srv/attest/var", "/srv/attest/evidence"]
EXPOSE 8000
# Liveness of the web process the default command starts: /healthz answers 200 once the app
# is serving (readiness, with the database and the store, is /readyz). A container running
# another command (the worker, the migrate job) sets its own check or disables this one.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["attest", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "0"]
