"""Environment variables: the first link of the chain, for CI, containers and scheduled tasks."""

from __future__ import annotations

import os
import re

from mlconnector.errors import CredentialError


def env_var_name(system: str, field: str) -> str:
    """``MLCONNECTOR_<SYSTEM>_<FIELD>``: upper-cased, every non-alphanumeric character -> ``_``."""
    return "MLCONNECTOR_" + _word(system) + "_" + _word(field)


def _word(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()


class EnvBackend:
    """Read-only: values are set by whoever starts the process (cron, Task Scheduler, CI)."""

    name = "env"

    def available(self) -> tuple[bool, str]:
        return True, "environment variables MLCONNECTOR_<SYSTEM>_<FIELD>"

    def get(self, system: str, field: str) -> str | None:
        # An empty variable is treated as unset: `export X=` is almost always a mistake.
        return os.environ.get(env_var_name(system, field)) or None

    def where(self, system: str, field: str) -> str:
        return f"environment variable {env_var_name(system, field)}"

    def set(self, system: str, field: str, value: str) -> None:
        raise CredentialError(
            f"environment variables cannot be written by mlconnector; set {env_var_name(system, field)} "
            "in the environment of the process that runs mlconnector"
        )

    def delete(self, system: str, field: str) -> bool:
        raise CredentialError(
            f"environment variables cannot be removed by mlconnector; unset {env_var_name(system, field)} "
            "where it is defined"
        )
