# One image for every Hypercare service; docker-compose.yml picks the service with `command`.
# (The local stack runs without Docker: see deploy/stack/stack.py and `make up`. This file is for
# machines that have a Docker engine.)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir uv

WORKDIR /app

# Only what the workspace needs (not .venv, .stack or .cache from a developer's checkout).
COPY pyproject.toml uv.lock ./
COPY libs ./libs
COPY services ./services
COPY deploy ./deploy

RUN uv sync --all-packages --frozen --no-dev

ENV PATH="/app/.venv/bin:${PATH}" \
    HYPERCARE_POLICY_DIR=/app/deploy/policy

RUN useradd --system --uid 10001 --home-dir /app hypercare && chown -R hypercare /app
USER hypercare

# Overridden per service in docker-compose.yml, e.g. ["python", "-m", "hypercare_triage"].
CMD ["python", "-m", "hypercare_gateway"]
