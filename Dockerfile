# Pelukis on one NVIDIA GPU: the bot and its engine process in one container.
#
# Base: a slim Python, not a CUDA or pytorch/pytorch image. torch==2.13.0 (pinned in
# pyproject.toml) from PyPI on linux/amd64 is already the CUDA build and brings its CUDA
# runtime as nvidia-* wheels, so the host only needs the NVIDIA driver and the Container
# Toolkit; a CUDA base would add a second CUDA runtime and a second Python. Build another
# CUDA variant with --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 (any
# index that has torch 2.13.0).
FROM python:3.11-slim-bookworm

ARG TORCH_INDEX_URL=""
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/home/pelukis/.cache/huggingface \
    PELUKIS_METRICS_ADDRESS=0.0.0.0:9464

RUN useradd --create-home --uid 1000 --user-group pelukis
WORKDIR /app

# torch first, alone: the biggest layer, rebuilt only when its index changes
RUN if [ -n "$TORCH_INDEX_URL" ]; then pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0; \
    else pip install torch==2.13.0; fi
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY engine ./engine
RUN pip install . \
    && mkdir -p /app/var "$HF_HOME" \
    && chown -R pelukis:pelukis /app/var /home/pelukis/.cache
COPY --chown=pelukis:pelukis config.toml ./
COPY --chown=pelukis:pelukis adapters ./adapters

# The database, images, log and tiny test model; the style packs; the Hugging Face cache
# (SD 2.1 is ~5 GB: keep it across rebuilds). Tokens never enter the image: TELEGRAM_TOKEN,
# DISCORD_TOKEN (and DEEPL_API_KEY, LIBRETRANSLATE_API_KEY) come from the environment.
VOLUME ["/app/var", "/app/adapters", "/home/pelukis/.cache/huggingface"]
USER 1000:1000
EXPOSE 9464

# /healthz: 200 while the event loop runs and the engine is ready. The start period covers
# loading SD 2.1 (a first download goes beyond it: run `python -m bot fetch-models` first).
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]

# SIGTERM (docker stop): the batch in flight finishes and is sent within
# [bot] shutdown_timeout_s; give `docker stop -t` / compose stop_grace_period more than that.
ENTRYPOINT ["python", "-m", "bot", "--config", "/app/config.toml"]
CMD ["serve"]
