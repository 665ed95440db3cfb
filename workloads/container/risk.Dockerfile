# The portfolio risk manager's Lambda image (workloads/stacks/compute.py: Fn("risk", image=True),
# x86_64, ImageConfig Command = the handler). Build from the repository root after
# `charter workload package optimizer -o dist`, which makes the handlers zip this image unpacks:
#   docker build -f workloads/container/risk.Dockerfile -t optimizer-risk .
# Same code and the same pinned third-party packages as the zip functions and their layer
# (workloads/requirements-layer.txt), on the Lambda runtime of the stacks (python3.12).
# risk.Dockerfile.dockerignore keeps the build context to those two inputs.
FROM public.ecr.aws/lambda/python:3.12.2026.06.02.15-x86_64

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /var/task

COPY workloads/requirements-layer.txt /tmp/requirements.txt
# Wheels only, into the task root as Lambda images expect; bytecode is compiled here by the
# runtime's own Python because the function's file system is read-only.
RUN python3 -m pip install --no-cache-dir --only-binary=:all: --target /var/task -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY dist/optimizer-handlers.zip /tmp/optimizer-handlers.zip
RUN python3 -m zipfile -e /tmp/optimizer-handlers.zip /var/task \
    && python3 -m compileall -q /var/task/charter \
    && rm /tmp/optimizer-handlers.zip

# Lambda runs every image as its own least-privileged user whatever this says (files need only
# be world-readable, which they are); a local run (Runtime Interface Emulator) is non-root too.
USER nobody

# Lambda ignores HEALTHCHECK; locally it verifies the handler and its dependencies import.
HEALTHCHECK --interval=60s --timeout=10s --retries=1 CMD ["python3", "-c", "import charter.workloads.handlers.risk"]

CMD ["charter.workloads.handlers.risk.handler"]
