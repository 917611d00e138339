# esbridge in a container, for docker-compose.yml (not built or run by this project's CI: no
# Docker engine there).
FROM python:3.11-slim
WORKDIR /opt/esbridge
COPY pyproject.toml README.md ./
COPY esbridge ./esbridge
COPY index-templates ./index-templates
COPY examples ./examples
COPY kibana ./kibana
RUN pip install --no-cache-dir -e . && useradd --system esbridge
USER esbridge
ENTRYPOINT ["esbridge"]
