# SPDX-License-Identifier: MIT
"""scripts/demo --once: it builds, mounts the demo data, shows the examples, and cleans up
after itself: nothing left mounted, no rtkfs and no fake API process left running."""
import os
import re
import subprocess
from pathlib import Path

from conftest import ROOT, run

A = "023e105f4ecef8ad9ca31a8372d0c353"


def alive(pid):
    """True if pid runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_demo_once(tmp_path):
    mnt = tmp_path / "mnt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    env["RTKFS_DEMO_MNT"] = str(mnt)
    try:
        r = run([str(ROOT / "scripts" / "demo"), "--once"], env=env, timeout=300,
                stdin=subprocess.DEVNULL)
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-uz", str(mnt)], capture_output=True)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    # It says what it does, and shows the examples with what they print.
    for step in ("building rtkfs", "starting the fake Realtime Kit API", "mounting rtkfs at",
                 "unmounting", "stopping the fake API"):
        assert step in out, f"the demo did not say '{step}':\n{out}"
    for example in ("$ ls accounts", "$ cat accounts/*/name", "$ grep -l old-host.example.com",
                    "$ grep -L true", "$ grep -rl meeting.transcript", "echo false >",
                    "$ cat .rtkfs/status"):
        assert example in out, f"the demo did not show '{example}':\n{out}"
    assert A in out and "Acme Media" in out and '"url": "https://' in out
    assert re.search(r"/webhooks/[0-9a-f-]+/url$", out, re.M), out
    assert "\033[" not in out, "colours when the output is not a terminal"
    # Cleaned up: not mounted, and the two processes it started are gone.
    assert not os.path.ismount(mnt)
    rtkfs = re.search(r"mounting rtkfs at \S+ \(pid (\d+)\)", out)
    server = re.search(r"stopping the fake API \(pid (\d+)\)", out)
    assert rtkfs and server, out
    for pid in (int(rtkfs.group(1)), int(server.group(1))):
        assert not alive(pid), f"pid {pid} started by the demo still runs"
    assert "done: nothing of the demo is mounted or running" in out
