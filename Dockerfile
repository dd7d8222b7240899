# One image for every Redress service. The entrypoint is the `redress` CLI, so the command picks
# what the container does:
#   docker run redress serve casework      one service (one replica per container)
#   docker run redress topics create       create the topics (an init job)
#   docker run redress migrate             apply every service's migrations (an init job)
#   docker run redress dlq list            inspect dead-letter topics
# Configuration is environment only (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, REDRESS_TOKEN_KEY,
# ...; see the README). Build from the repository root: docker build -t redress:0.1.0 .

# Pinned to an exact Python release; pin by digest too in your registry mirror if you can.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY redress redress
COPY services services
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REDRESS_HTTP_HOST=0.0.0.0 \
    REDRESS_DATA_DIR=/var/lib/redress
RUN groupadd --system --gid 10001 redress \
    && useradd --system --uid 10001 --gid redress --home-dir /var/lib/redress \
       --create-home --shell /usr/sbin/nologin redress
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# numeric, so that Kubernetes' runAsNonRoot can check it
USER 10001:10001
WORKDIR /var/lib/redress
EXPOSE 8001 8002 8003 8004 8005
ENTRYPOINT ["redress"]
CMD ["--help"]
