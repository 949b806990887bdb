# Image for docker-compose.yml. Builds the browser app, then installs the Python package.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=annotate.settings
WORKDIR /app
COPY pyproject.toml ./
COPY annotate/ annotate/
COPY tenants/ tenants/
COPY workers/ workers/
COPY manage.py ./
RUN pip install --no-cache-dir .
COPY --from=frontend /src/frontend/dist frontend/dist
RUN DATABASE_URL=postgres://x@localhost/x DJANGO_SECRET_KEY=build python manage.py collectstatic --noinput
RUN useradd --system --uid 10001 annotate
USER annotate
EXPOSE 8000
