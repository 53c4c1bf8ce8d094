"""Fixtures for unattended operation: the CLI in a child process against the sandbox."""

from __future__ import annotations

import pytest


@pytest.fixture
def cli(run_cli, workdir, sandbox, assert_nothing_leaked):
    """run_cli in the sandbox's workdir; afterwards, no secret anywhere it wrote."""
    yield run_cli
    assert_nothing_leaked(sandbox)
