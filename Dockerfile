# flux-mock in a container: slim, non-root, with a health check.
#   docker build -t flux-mock .
#   docker run --rm -p 8080:8080 flux-mock                     # the embedded default
#   docker run --rm -p 8080:8080 -e FLUX_MOCK_STORE=redis://redis:6379/0 flux-mock
# Every `serve` option is also a FLUX_MOCK_* environment variable (README: "Containers and CI services").
# PYTHON_IMAGE: any image with python3.11+ and pip on PATH (tests build one from Debian packages when no
# registry can be reached).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

RUN useradd --create-home --uid 10001 flux
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mock_server ./mock_server
COPY contract_tests ./contract_tests
COPY openapi ./openapi
COPY fixtures ./fixtures
RUN pip install --no-cache-dir . && rm -rf /src

USER flux
WORKDIR /home/flux
ENV FLUX_MOCK_HOST=0.0.0.0 \
    FLUX_MOCK_PORT=8080 \
    FLUX_MOCK_HOME=/home/flux/.flux-mock \
    PYTHONUNBUFFERED=1
EXPOSE 8080
# The admin API answers loopback clients (the check runs inside the container), and with FLUX_MOCK_ADMIN_TOKEN
# set only those that send it.
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:%s/__admin/health' % os.environ.get('FLUX_MOCK_PORT', '8080'), headers={'X-Admin-Token': os.environ.get('FLUX_MOCK_ADMIN_TOKEN', '')}), timeout=2)"
ENTRYPOINT ["flux-mock"]
CMD ["serve"]
