"""Fixtures of the index tests: stores indexed with the fast hash embedder, a real Chroma server.

The hash embedder is a keyword matcher; tests that need meaning (paraphrases) use MiniLM.

Every test taking ``fs`` runs twice: on embedded Chroma and on a real Chroma server
(``chroma run`` on loopback, started here, or ``$CHROMA_SERVER_URL``). Without the ``chroma``
command the server half skips, unless ``CI=true`` or ``AGENTFS_REQUIRE_CHROMA_SERVER=1``: then it
fails, so CI can never be green without having run the server suite.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentfs.fs import ContextFS

ENV_SERVER = "CHROMA_SERVER_URL"
ENV_REQUIRE = "AGENTFS_REQUIRE_CHROMA_SERVER"
SERVER_START_TIMEOUT = 90.0


def _server_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get(ENV_REQUIRE) == "1"


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.chroma_server)])
def fs(request: pytest.FixtureRequest, store: ContextFS) -> ContextFS:
    """An admin handle on a fresh store whose index uses the hash embedder, on embedded Chroma
    or on the Chroma server (one collection per store: ``agentfs-<store id>``)."""
    url = request.getfixturevalue("chroma_server_url") if request.param == "server" else None
    store.service("search").configure(store, embedder="hash", chroma_url=url)
    return store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(url: str) -> bool:
    for route in ("/api/v2/heartbeat", "/api/v1/heartbeat"):
        try:
            with urllib.request.urlopen(url + route, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            continue
    return False


@pytest.fixture(scope="session")
def chroma_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server: ``$CHROMA_SERVER_URL`` (CI starts one), else one we start and stop.

    We start ``chroma run`` on a free loopback port with a fresh data folder, and always stop it.
    Skips when neither the variable nor the ``chroma`` command exists.
    """
    url = os.environ.get(ENV_SERVER)
    if url:
        yield url.rstrip("/")
        return
    exe = shutil.which("chroma")
    if exe is None:
        reason = f"no Chroma server: set {ENV_SERVER} or install the chroma CLI (pip install chromadb)"
        if _server_required():
            pytest.fail(f"the Chroma server suite must run here (CI / {ENV_REQUIRE}): {reason}")
        pytest.skip(reason)
    folder: Path = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed in finally
    # Loopback only, telemetry off: the suite never needs the network.
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen(
        [exe, "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _alive(url):
            if process.poll() is not None:
                raise RuntimeError(f"chroma run exited with {process.returncode}: "
                                   f"{(folder / 'server.log').read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not answer on {url} within {SERVER_START_TIMEOUT}s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()
