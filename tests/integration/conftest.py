# SPDX-License-Identifier: MIT
"""The mount harness: start the fake API, mount the built rtkfs against it, always tear down.

A test asks for `api` (a FakeAPI on the demo fixture, or on a fixture of its own through
`make_api`) and `mount` (a factory: `mount(api, ttl=5, ...)` gives a mounted Mount). At
teardown every mount is unmounted with fusermount3 (lazy unmount and kill if that fails), the
daemon must exit 0, and its output must hold no sanitizer report and never the token.
"""
import calendar
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fakeapi"))

from fakeapi import FakeAPI, Sink  # noqa: E402

BUILD = Path(os.environ.get("RTKFS_BUILD", ROOT / "build"))
BINARY = BUILD / "rtkfs"
DEMO = ROOT / "tests" / "fixtures" / "demo.json"
TOKEN = "rtk-demo-token-5b1e2c9a7d"
ACCOUNT_TOKEN = "rtk-acct-token-0c4d8e6f1a"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer", "ThreadSanitizer")


def fuse_available():
    return os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None


def pytest_collection_modifyitems(config, items):
    if fuse_available() and BINARY.exists():
        return
    why = ("no /dev/fuse or fusermount3 on this machine" if not fuse_available()
           else f"{BINARY} is not built")
    for item in items:
        if "nomount" not in item.keywords:
            item.add_marker(pytest.mark.skip(reason="SKIPPED LOUDLY: " + why))


def render(value):
    """What cat prints for a field value (DESIGN §2)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true\n" if value else "false\n"
    if isinstance(value, list):
        return "".join(f"{v}\n" for v in value)
    return f"{value}\n"


def pretty(obj):
    """What cat prints for <kind>.json: two-space JSON in the server's key order."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def epoch(ts):
    """An API timestamp (2024-01-09T16:42:11.204Z) as seconds since the epoch."""
    dt = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return calendar.timegm(dt.timetuple()) + dt.microsecond / 1e6


def wait_for(pred, timeout=3.0, step=0.02):
    """Poll pred until it is true or timeout seconds pass (a state the daemon reaches on its
    own time: a refresh, a notification); its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def run(cmd, timeout=30, check=False, **kw):
    """Run a command (a list, or a string for the shell) and return the CompletedProcess."""
    shell = isinstance(cmd, str)
    return subprocess.run(cmd, shell=shell, capture_output=True, text=True,
                          timeout=timeout, check=check, **kw)


class Mount:
    """One rtkfs daemon in the foreground, mounted at a fresh directory."""

    def __init__(self, api, workdir, options=None, env=None, token=TOKEN, args=(),
                 binary=BINARY):
        self.api = api
        self.dir = Path(workdir)
        self.mnt = self.dir / "mnt"
        self.mnt.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "rtkfs.log"
        self.options = dict(options or {})
        if api is not None:
            self.options.setdefault("base_url", api.url)
        # Read-ahead makes "cold" depend on timing; tests that count requests on a cold
        # part of the tree need it off. Tests of read-ahead itself turn it on.
        self.options.setdefault("prefetch", 0)
        self.env = dict(os.environ)
        self.env.pop("CLOUDFLARE_API_TOKEN", None)
        self.env.pop("CLOUDFLARE_ACCOUNT_ID", None)
        self.env.pop("CLOUDFLARE_BASE_URL", None)
        self.env.pop("CLOUDFLARE_API_BASE_URL", None)
        if token is not None:
            self.env["CLOUDFLARE_API_TOKEN"] = token
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=0")
        self.env.update(env or {})
        self.token = token
        self.args = list(args)
        self.binary = binary
        self.proc = None
        self.returncode = None

    def argv(self):
        argv = [str(self.binary), "-f"] + self.args
        opts = ",".join(k if v is True else f"{k}={v}" for k, v in self.options.items())
        if opts:
            argv += ["-o", opts]
        return argv + [str(self.mnt)]

    def start(self, expect_mount=True, timeout=15):
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv(), env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.ismount(self.mnt):
                return self
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                if expect_mount:
                    raise AssertionError(f"rtkfs exited {self.returncode}: {self.output()}")
                return self
            time.sleep(0.01)
        raise AssertionError("rtkfs did not mount within %ss: %s" % (timeout, self.output()))

    def output(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def path(self, rel=""):
        return self.mnt / rel if rel else self.mnt

    def __truediv__(self, rel):
        return self.path(rel)

    def sh(self, script, timeout=30):
        """Run a shell command inside the mount point."""
        return run(script, timeout=timeout, cwd=self.mnt)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if os.path.ismount(self.mnt):
                subprocess.run(["fusermount3", "-u", str(self.mnt)], capture_output=True)
            try:
                self.returncode = self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                subprocess.run(["fusermount3", "-uz", str(self.mnt)], capture_output=True)
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
                self.returncode = "killed"
        else:
            self.returncode = self.proc.returncode
        if os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-uz", str(self.mnt)], capture_output=True)
        self.logf.close()
        self.proc = None

    def check_output_clean(self):
        out = self.output()
        for mark in SANITIZER_MARKS:
            assert mark not in out, f"sanitizer report in rtkfs output:\n{out}"
        if self.token:
            assert self.token not in out, "the token appeared in rtkfs output"


@pytest.fixture
def make_api():
    started = []

    def make(fixture=DEMO, **kw):
        api = FakeAPI(fixture, **kw).start()
        started.append(api)
        return api

    yield make
    for api in started:
        api.stop()


@pytest.fixture
def api(make_api):
    return make_api()


@pytest.fixture
def mount(tmp_path):
    mounts = []

    def make(api, expect_mount=True, **kw):
        n = len(mounts)
        m = Mount(api, tmp_path / f"m{n}", **kw)
        mounts.append(m)
        return m.start(expect_mount=expect_mount)

    yield make
    failures = []
    for m in mounts:
        was_running = m.proc is not None and m.proc.poll() is None
        m.stop()
        try:
            m.check_output_clean()
        except AssertionError as e:
            failures.append(str(e))
        if was_running and m.returncode != 0:
            failures.append(f"rtkfs exited {m.returncode} after unmount:\n{m.output()}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def sink():
    s = Sink(host="127.0.0.2").start()
    yield s
    s.stop()
