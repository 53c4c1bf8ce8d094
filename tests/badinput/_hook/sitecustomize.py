"""Loaded by the mlconnector child processes of tests/badinput (this directory is put on their
PYTHONPATH). When MLC_TEST_SLEEP_LOG names a file, ``time.sleep`` records each wait it is asked
for in that file and returns at once: retry back-off is then measured, not waited for, so a case
that retries six times takes a second instead of twenty. Nothing else in the child changes.
Installed before mlconnector is imported, so the clients' ``sleep=time.sleep`` defaults get it.
"""

import os
import time

_log = os.environ.get("MLC_TEST_SLEEP_LOG")
if _log:
    _real_sleep = time.sleep

    def _recorded_sleep(seconds: float) -> None:
        with open(_log, "a", encoding="utf-8") as fh:
            fh.write(f"{float(seconds)!r}\n")
        _real_sleep(min(float(seconds), 0.001))

    time.sleep = _recorded_sleep
