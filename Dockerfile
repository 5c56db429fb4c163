# askbot: the Discord bot, as a small non-root image.
# Build:  docker build -t askbot .
# Run:    docker run --env-file .env -v "$PWD/corpus:/data/corpus:ro" -v askbot-data:/data askbot

# ---- build stage: wheels for askbot and its dependencies -------------------------------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A C compiler for askbot's compiled modules (src/askbot/search/_kernel.c, _chunks.c); only this
# stage has it.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN pip wheel --wheel-dir /wheels .

# ---- runtime stage -----------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ASKBOT_CORPUS_DIR=/data/corpus \
    ASKBOT_DATA_DIR=/data/state
RUN groupadd --system --gid 10001 askbot \
    && useradd --system --uid 10001 --gid askbot --home-dir /data --shell /usr/sbin/nologin askbot
COPY --from=build /wheels /wheels
# Only the wheels built above are installable here (--no-index), so versions are pinned by the build.
# hadolint ignore=DL3013
RUN pip install --no-index --find-links=/wheels askbot && rm -rf /wheels
# The bundled corpus is the default; mount your own over /data/corpus.
COPY --chown=askbot:askbot corpus /data/corpus
RUN mkdir -p /data/state && chown -R askbot:askbot /data
VOLUME ["/data/state"]
WORKDIR /data
USER 10001:10001
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 CMD ["askbot", "health"]
CMD ["askbot", "run"]
