# SPDX-License-Identifier: MIT
"""`.rtkfs/metrics` (issue 14): the Prometheus text exposition format, checked by promtool,
with counters that move as requests are made."""
import re
import shutil
import subprocess

import pytest

from conftest import run
from test_read import A, LIST_APPS, P, wdir

PROMTOOL = shutil.which("promtool")


def metrics(m):
    return (m / ".rtkfs/metrics").read_text()


def value(text, series):
    """The value of one series line (name and labels exactly as printed), or None."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


@pytest.mark.skipif(PROMTOOL is None, reason="SKIPPED LOUDLY: promtool (Debian's prometheus) "
                    "is not installed")
def test_promtool_accepts_it(api, mount):
    m = mount(api)
    sorted((m / wdir()).iterdir())
    text = metrics(m)
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


def test_counters_move(api, mount):
    m = mount(api, options={"ttl": 30})
    before = metrics(m)
    apps = 'rtkfs_api_requests_total{endpoint="apps",status_class="2xx"}'
    assert value(before, apps) == 0
    sorted((m / f"accounts/{A}/apps").iterdir())
    after = metrics(m)
    assert value(after, apps) == api.count("GET", LIST_APPS) > 0
    assert value(after, "rtkfs_api_request_duration_seconds_count") >= value(after, apps)
    assert value(after, "rtkfs_cache_misses_total") > value(before, "rtkfs_cache_misses_total")
    assert value(after, "rtkfs_rate_budget_remaining_requests") < \
        value(after, "rtkfs_rate_budget_limit_requests")
    assert value(after, "rtkfs_degraded") == 0
    # A write that is refused locally, and one that is accepted.
    w = api.webhooks(A, P)[0]
    f = m / wdir() / w["id"] / "enabled"
    run(["/bin/sh", "-c", f"/bin/echo flase > '{f}'"])
    new = "false" if w["enabled"] else "true"
    r = run(["/bin/sh", "-c", f"/bin/echo {new} > '{f}'"])
    assert r.returncode == 0, r.stderr
    text = metrics(m)
    assert value(text, 'rtkfs_writes_total{result="invalid"}') == 1
    assert value(text, 'rtkfs_writes_total{result="ok"}') == 1
    assert value(text, "rtkfs_last_error_timestamp_seconds") > 0
    assert re.search(r'^rtkfs_api_requests_total\{endpoint="webhook",status_class="2xx"\} 1$',
                     text, re.M)
