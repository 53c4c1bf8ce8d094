"""`mlconnector demo --faults SPEC` with a valid spec, through the CLI as a user runs it: the sync
retries through every fault the spec asks for, the table of faults the sandbox servers caused is
printed, and what happened to each record is what a clean demo reports.

The spec has every kind of fault but hangs (a hang costs its whole timeout); each fault costs a
retry back-off (0.5–1.5 s), so the rates are low enough for the run to take about 15 s.
``garbage_kinds=html500``: a 200 answer whose body is an HTML page or cut short is retried by the
API client but not at the token endpoint (tests/badinput: ``server-procore-token-html``, a
login_url pointing at a web page fails at once), so those kinds could make the run fail if the
draw falls on a token request. ``burst=1`` keeps 429s from chaining past the token request's six
attempts (the token lock holds every other request back meanwhile). With seed 3 every kind of
fault happens at least once.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

FAULTS = ("5xx=0.03,429=0.02,burst=1,lost=0.03,expire=50,reset=0.01,garbage=0.01,garbage_kinds=html500,"
          "retry_after=0,seed=3")
KINDS = ("5xx", "429", "lost", "expire", "reset", "garbage")
COUNTS = re.compile(r"^sage300-procore run (\d+) (\w+): (create=\d+ update=\d+ link=\d+ skip=\d+ quarantine=\d+)$",
                    re.MULTILINE)
ROW = re.compile(r"^│ (.+?) *│ (.+?) *│ (.+?) *│$", re.MULTILINE)


def section(out: str, title: str) -> str:
    """The text of the table titled ``title`` (up to its bottom border)."""
    start = out.index(title)
    return out[start:out.index("└", start)]


def outcomes(out: str) -> dict[str, object]:
    """What the demo printed about the records: counts per run and stream, the audit of the first
    run, the quarantine, the replay, and how many writes the second sync sent."""
    return {
        "counts": COUNTS.findall(out),
        "audit": ROW.findall(section(out, "audit of run 1: one row per record")),
        "quarantine": [row[1] for row in ROW.findall(section(out, "quarantine: what could not go through"))],
        "replay": re.search(r"^replay of (\S+)", out, re.MULTILINE).group(1),
        "second sync writes": re.search(r"the second sync sent (\d+) Procore write requests", out).group(1),
    }


def test_demo_with_faults_ends_like_a_clean_demo(run_cli) -> None:
    code, clean, err = run_cli("demo", "--vendors", "20", timeout=60)
    assert code == 0, err
    assert "faults the sandbox servers caused" not in clean
    code, faulty, err = run_cli("demo", "--vendors", "20", "--faults", FAULTS, timeout=90)
    assert code == 0, err
    assert f"faults on both servers: {FAULTS}" in faulty
    assert "retry 1 of 5" in err  # the sync retried through them

    # The table of the faults each server caused: every kind of the spec, on Procore at least.
    table = {row[0]: (int(row[1]), int(row[2])) for row in ROW.findall(section(faulty, "faults the sandbox "
                                                                                      "servers caused"))
             if row[0] != "fault"}
    for kind in KINDS:
        assert table.get(kind, (0, 0))[1] > 0, (kind, table)
    assert "timeout" not in table  # no hangs asked for, none happened

    # The same outcome for every record as without faults.
    expected = outcomes(clean)
    assert len(expected["counts"]) == 6 and expected["audit"] and expected["quarantine"]  # both syncs, 3 streams
    assert outcomes(faulty) == expected
