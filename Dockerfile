# esbridge in a container, for docker-compose.yml (not built or run by this project's CI: no
# Docker engine there). It installs the wheel, as a site does; the example config and its rule
# pack are copied beside it for the compose file's commands.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps -w /dist .

FROM python:3.11-slim
WORKDIR /opt/esbridge
COPY --from=build /dist/ /tmp/dist/
RUN pip install --no-cache-dir /tmp/dist/*.whl && rm -rf /tmp/dist && useradd --system esbridge
COPY examples ./examples
USER esbridge
ENTRYPOINT ["esbridge"]
