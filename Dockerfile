# syntax=docker/dockerfile:1
# The image the Helm chart in deploy/helm/leitplanke runs: `leitplanke serve`, `leitplanke webhook`,
# `leitplanke agent` and `leitplanke db upgrade`. Build: docker build -t registry.example.com/leitplanke/leitplanke:0.1.0 .

# Stage 1: the wheel of leitplanke and the wheels of its dependencies
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: only the installed wheels, run by an unprivileged user
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    LEITPLANKE_DATA_DIR=/var/lib/leitplanke \
    LEITPLANKE_CACHE_DIR=/tmp/leitplanke-cache
# git: the agent's drift detection (and `leitplanke drift`) reads the desired state from a Git repository
RUN apt-get update \
 && apt-get install -y --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 leitplanke \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin leitplanke \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/leitplanke
# the wheels are bind-mounted from the build stage, so no layer keeps a copy of them
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels leitplanke \
 && python -m compileall -q /usr/local/lib/python3.11/site-packages/leitplanke
# nothing is written outside /tmp and the data volume: the root filesystem may be read-only
USER 10001:10001
WORKDIR /var/lib/leitplanke
VOLUME ["/var/lib/leitplanke"]
EXPOSE 8080 8443
ENTRYPOINT ["leitplanke"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
