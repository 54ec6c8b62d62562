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
