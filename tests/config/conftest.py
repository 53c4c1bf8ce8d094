from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MLCONNECTOR_"):
            monkeypatch.delenv(name)


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a pipeline file into a fresh directory and return its path."""

    def write(text: str, name: str = "mlconnector.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
