"""Shared fixtures. System programs (``dot``, ``chromium``) are optional locally,
but under CI (``CI=true``) a missing one fails the tests that need it instead of
skipping them, so a green CI run cannot hide a missing install step."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _need(program: str, *alternatives: str) -> str:
    for name in (program, *alternatives):
        found = shutil.which(name)
        if found:
            return found
    message = f"the {program!r} program is not installed (make bootstrap installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def dot_binary() -> str:
    """Path of graphviz ``dot``; skips locally, fails under CI, when missing."""
    return _need("dot")


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    """Path of Debian's Chromium; skips locally, fails under CI, when missing."""
    return _need("chromium", "chromium-browser")


# ------------------------------------------------- object storage and a Dask cluster
# One S3 endpoint (moto's server, a real HTTP server on loopback) and one
# two-process LocalCluster for every test that needs them: each takes ~4 s to start.
def _need_module(name: str):
    try:
        return __import__(name)
    except ImportError:
        message = f"{name} is not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def s3_endpoint():
    """``{"endpoint_url", "key", "secret"}`` of a moto S3 server on 127.0.0.1 (storage_options for s3fs)."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    _need_module("moto")
    _need_module("s3fs")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto_server did not start on {url}")
            time.sleep(0.1)
    try:
        yield {"endpoint_url": url, "key": "testing-key-id", "secret": "testing-secret-value"}
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3_bucket(s3_endpoint, request):
    """A fresh bucket (named after the test) on :func:`s3_endpoint`, and an s3fs filesystem for it."""
    import re

    import s3fs

    fs = s3fs.S3FileSystem(**s3_endpoint)
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + f"-{id(request) % 10_000}"
    fs.mkdir(name)
    fs.invalidate_cache()
    return name, fs


@pytest.fixture(scope="session")
def dask_cluster():
    """A ``LocalCluster`` of two worker processes (one thread each) on loopback."""
    _need_module("distributed")
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, scheduler_kwargs={"dashboard": False})
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def dask_client(dask_cluster):
    """A client of :func:`dask_cluster`."""
    from distributed import Client

    with Client(dask_cluster) as client:
        yield client
