"""Failure notices: tell a person when an unattended sync fails or quarantines records.

Configured by the optional ``notify:`` section of the pipeline file (a webhook that Slack and
Teams accept, and/or SMTP e-mail). After every real (not dry) ``sync`` the CLI calls
:func:`notify_run`; a notice goes out only for a *new* problem: a failure not reported before, or
records newly in quarantine. Repeats send nothing; a pair that runs clean again after a reported
failure sends one "recovered" notice. What was reported is remembered per channel in the state
file (table ``notices``), so a channel that could not be reached is tried again on the next run.

Sending never raises and never changes the run's exit code: a notice that cannot be sent is
logged as a warning naming the channel and the reason (never the URL or a password).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config module imports this package for the `notify:` schema
    from mlconnector.config import Config
    from mlconnector.errors import MlconnectorError

__all__ = ["notify_run", "send_test"]


def notify_run(config: Config, pair: str, *, exit_code: int, run_id: int | None,
               error: MlconnectorError | None) -> list[str]:
    """Send a notice about this run of ``pair`` to every configured channel if it has a new problem.

    Returns one line per channel a notice went to, e.g. ``"webhook: sent"`` or
    ``"email: failed (connection refused)"``; ``[]`` when ``notify:`` is not configured or there
    is nothing new to say.
    """
    from mlconnector.notify._run import notify_run as run

    return run(config, pair, exit_code=exit_code, run_id=run_id, error=error)


def send_test(config: Config) -> list[str]:
    """Send a short test notice to every configured channel (for `mlconnector doctor`).
    Returns one line per channel, as :func:`notify_run`; ``[]`` when none is configured."""
    from mlconnector.notify._run import send_test as test

    return test(config)
