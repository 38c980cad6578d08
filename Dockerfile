# Quartermaster as a container: streamable HTTP on port 8765, the store in PostgreSQL.
# See docs/deployment.md ("Containers"); compose.yaml runs it beside a PostgreSQL server.
#
# Downstream MCP servers run as the user `downstream`, not as `quartermaster`: through sudo,
# which the rule in deploy/sudoers allows for the listed programs only. A downstream then
# cannot read the master key, the configuration or anything else Quartermaster owns.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Wheels of Quartermaster and all its dependencies (PostgreSQL driver included).
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends sudo \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/quartermaster \
        --create-home --shell /usr/sbin/nologin quartermaster \
    && useradd --system --uid 10002 --user-group --home-dir /var/lib/downstream \
        --create-home --shell /usr/sbin/nologin downstream
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'mcp-quartermaster[postgres]' \
    && rm -rf /wheels
COPY --chmod=0440 deploy/sudoers /etc/sudoers.d/quartermaster
COPY --chown=root:quartermaster --chmod=0640 deploy/tools.yaml /etc/quartermaster/tools.yaml

USER quartermaster
WORKDIR /var/lib/quartermaster
EXPOSE 8765
# Liveness: the process answers. Readiness (store and downstreams) is GET /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4)"]
ENTRYPOINT ["quartermaster"]
CMD ["serve", "--config", "/etc/quartermaster/tools.yaml", "--transport", "http", \
     "--host", "0.0.0.0", "--port", "8765"]
