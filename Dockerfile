# syntax=docker/dockerfile:1
# One image for every app of the suite; the command chooses which one runs:
#   uvicorn gateway.main:app --host 0.0.0.0 --port 8000 --log-config /app/deploy/logging/json.json
#   uvicorn services.permits.main:app --host 0.0.0.0 --port 8001 --log-config <the same>
#       (credit 8002, inspection 8003, insurance 8004)
#   python -m kernel.migrate <permits|credit|inspection|insurance|gateway>
# The log config makes every line one JSON object on stdout with the request and trace ids
# (kernel/logs.py); LOG_LEVEL sets the level.
# Settings come from the environment at run time (deploy/compose.yaml, deploy/k8s); nothing
# secret is built into a layer.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: the pinned dependencies in a virtualenv, nothing else -------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /build
# Only pyproject.toml: the dependency layer is rebuilt when a pin changes, not on every edit.
COPY pyproject.toml ./
# The runtime dependencies exactly as pinned in [project].dependencies (no dev extra). The
# project itself is not installed: its code is copied to /app below, so that REPO_ROOT (and with
# it the migrations folders and var/) resolves to /app as it does in a checkout.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install --upgrade pip \
    && pip install -r requirements.txt \
    && pip check

# ---- runtime: slim Python, the venv, the code, an unprivileged user -------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production

# A fixed uid/gid so volume permissions and Kubernetes securityContext (runAsUser) agree.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/var /var/lib/safety \
    && chown app:app /app/var /var/lib/safety

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Code only (see .dockerignore): kernel, services, gateway, deploy, owned by root and
# read-only to the app user; var/ and /var/lib/safety are the only writable places.
COPY kernel ./kernel
COPY services ./services
COPY gateway ./gateway
COPY deploy ./deploy
COPY pyproject.toml ./

USER 10001:10001

# The fixed ports: gateway 8000; permits 8001, credit 8002, inspection 8003, insurance 8004.
EXPOSE 8000 8001 8002 8003 8004

# No entry point: each app's command is given by compose or the Deployment. Health checks are
# set there too (/ready on the app's own port), as one image cannot know which port is in use.
CMD ["python", "-m", "kernel.migrate", "--help"]
