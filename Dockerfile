# syntax=docker/dockerfile:1
# Build: wheels in a throwaway stage, so the runtime image has no compiler and no pip cache.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ingestd ingestd
COPY schema schema
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
# The embedded PostgreSQL refuses to run as root: the whole image runs as this user. Its
# uid and gid are fixed, so a bind-mounted /data can be given to it: chown -R 10001:10001.
ARG INGESTD_UID=10001
ARG INGESTD_GID=10001
RUN groupadd --system --gid "${INGESTD_GID}" ingestd \
    && useradd --system --uid "${INGESTD_UID}" --gid "${INGESTD_GID}" \
        --home-dir /data --create-home ingestd
# The wheels are mounted for this step only, so no layer keeps a copy of them.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir /wheels/*.whl
USER ingestd
ENV INGESTD_HOST=0.0.0.0 \
    INGESTD_PORT=8080 \
    INGESTD_DATA_DIR=/data \
    INGESTD_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# Shell form, so the check follows an INGESTD_PORT given at `docker run -e`.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:${INGESTD_PORT:-8080}/healthz', timeout=2).status != 200)"
# ingestd is PID 1 and catches SIGTERM from its first line (before that the kernel would drop
# it). Docker's default grace period is 10 s; ingestd's shutdown budget (8 s) fits inside it.
STOPSIGNAL SIGTERM
CMD ["ingestd", "serve"]
