# SPDX-License-Identifier: MIT
"""Interrupts and unmounting while the server hangs (issue 3).

A process blocked in rtkfs on a hanging server (-o timeout=30) that gets SIGINT returns in
well under a second, whether it is the one whose request started the fetch or one waiting
for that same fetch; and the mount can be unmounted while the server still hangs, with the
daemon exiting 0 promptly.

The readers are Python processes with a SIGINT handler (KeyboardInterrupt), so the signal is
not fatal: the kernel sends FUSE_INTERRUPT and waits for rtkfs to answer, which is what is
under test (a fatal signal would end the process in the kernel, whatever rtkfs does).

The two readers use different dentries (one lists webhooks/, the other looks up a name in
it): two lookups of the same name would queue in the kernel (d_alloc_parallel), not in
rtkfs, and that wait cannot be interrupted by anyone.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import run

A = "023e105f4ecef8ad9ca31a8372d0c353"
TIMEOUT = 30
LIMIT = 1.0        # SIGINT to exit

READER = r"""
import os, sys
try:
    if sys.argv[1] == "list":
        os.listdir(sys.argv[2])
    else:
        os.stat(sys.argv[2])
except KeyboardInterrupt:
    sys.exit(130)
except OSError as e:
    print(e.errno)
    sys.exit(1)
"""


def wait_for(cond, timeout=5.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def in_fuse(proc):
    """Is proc blocked waiting for an answer from a FUSE daemon?"""
    try:
        with open(f"/proc/{proc.pid}/wchan") as f:
            return f.read().strip() == "request_wait_answer"
    except OSError:
        return False


class Scene:
    """A mount whose webhooks listing of one app hangs, with readers blocked on it."""

    def __init__(self, api, mount, **opts):
        self.api = api
        self.m = mount(api, options=dict({"timeout": TIMEOUT, "ttl": 60, "prefetch": 0},
                                         **opts))
        self.app = api.apps(A)[0]["id"]
        self.hook = api.webhooks(A, self.app)[0]["id"]
        self.dir = self.m / f"accounts/{A}/apps/{self.app}/webhooks"
        # The kernel learns of webhooks/ from the app's readdirplus; its listing stays cold.
        assert "webhooks" in os.listdir(self.m / f"accounts/{A}/apps/{self.app}")
        self.fault = api.add_fault("hang", path=rf"/{self.app}/webhooks$")
        self.readers = []

    def hung_requests(self):
        return self.api.count("GET", rf".*/{self.app}/webhooks")

    def start_reader(self, how):
        path = self.dir if how == "list" else self.dir / self.hook
        p = subprocess.Popen([sys.executable, "-c", READER, how, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.readers.append(p)
        wait_for(lambda: in_fuse(p), what="the reader to block in rtkfs")
        return p

    def fetcher(self):
        p = self.start_reader("list")
        wait_for(lambda: self.hung_requests() == 1, what="the hanging request")
        return p

    def waiter(self):
        p = self.start_reader("stat")
        return p

    def interrupt(self, p):
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        try:
            rc = p.wait(timeout=TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = "hung"
        return rc, time.monotonic() - t0

    def cleanup(self):
        for p in self.readers:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def scene(api, mount):
    s = []

    def make(**opts):
        s.append(Scene(api, mount, **opts))
        return s[-1]

    yield make
    for sc in s:
        sc.cleanup()


def test_sigint_on_the_reader_that_started_the_fetch(scene):
    s = scene()
    p = s.fetcher()
    rc, elapsed = s.interrupt(p)
    assert rc == 130, (rc, p.stdout.read(), p.stderr.read())
    assert elapsed < LIMIT, f"SIGINT to exit took {elapsed:.2f} s"
    assert s.m.proc.poll() is None
    assert s.hung_requests() == 1
    # Nothing was remembered of the interrupted fetch: once the server answers, it is fetched.
    s.api.remove_fault(s.fault)
    assert sorted(os.listdir(s.dir)) == sorted(w["id"] for w in s.api.webhooks(A, s.app))
    assert s.hung_requests() == 2


def test_sigint_on_a_reader_waiting_for_another_readers_fetch(scene):
    s = scene()
    first = s.fetcher()
    second = s.waiter()
    rc, elapsed = s.interrupt(second)
    assert rc == 130, (rc, second.stdout.read(), second.stderr.read())
    assert elapsed < LIMIT, f"SIGINT to exit took {elapsed:.2f} s (waiting reader)"
    assert first.poll() is None            # the fetch it waited for goes on
    assert s.hung_requests() == 1          # ...and the waiter sent nothing of its own
    rc, elapsed = s.interrupt(first)
    assert rc == 130
    assert elapsed < LIMIT, f"SIGINT to exit took {elapsed:.2f} s (fetching reader)"
    assert s.m.proc.poll() is None


def unmount_and_wait(m, lazy=False):
    t0 = time.monotonic()
    r = run(["fusermount3", "-uz" if lazy else "-u", str(m.mnt)])
    assert r.returncode == 0, r.stderr
    return t0


def daemon_exit(m, t0, limit=3.0):
    try:
        rc = m.proc.wait(timeout=TIMEOUT + 5)
    except subprocess.TimeoutExpired:
        rc = "hung"
    elapsed = time.monotonic() - t0
    assert rc == 0, f"rtkfs exited {rc}:\n{m.output()}"
    assert elapsed < limit, f"rtkfs took {elapsed:.1f} s to exit after the unmount"
    m.check_output_clean()


@pytest.mark.parametrize("who", ["fetcher", "waiter"])
def test_unmount_while_the_server_hangs(scene, who):
    """Blocked readers keep the mount busy (the kernel's rule), so: they are interrupted,
    then fusermount3 -u works at once though the server still hangs."""
    s = scene()
    readers = [s.fetcher()] + ([s.waiter()] if who == "waiter" else [])
    for p in reversed(readers):
        rc, elapsed = s.interrupt(p)
        assert rc == 130 and elapsed < LIMIT, (rc, elapsed)
    assert s.api.faults()[0]["applied"] == 1          # still hanging
    daemon_exit(s.m, unmount_and_wait(s.m))


@pytest.mark.parametrize("who", ["fetcher", "waiter"])
def test_lazy_unmount_with_blocked_readers(scene, who):
    s = scene()
    readers = [s.fetcher()] + ([s.waiter()] if who == "waiter" else [])
    t0 = unmount_and_wait(s.m, lazy=True)
    assert not os.path.ismount(s.m.mnt)
    for p in reversed(readers):
        rc, elapsed = s.interrupt(p)
        assert rc == 130 and elapsed < LIMIT, (rc, elapsed)
    daemon_exit(s.m, t0, limit=LIMIT + 3.0)


def test_unmount_while_read_ahead_hangs(api, mount):
    """Background fetches (read-ahead) stuck on a hanging server do not hold up the
    unmount or the daemon's exit."""
    m = mount(api, options={"timeout": TIMEOUT, "prefetch": 4})
    api.add_fault("hang", path=r"/webhooks$")
    assert len(os.listdir(m / f"accounts/{A}/apps")) == len(api.apps(A))
    wait_for(lambda: api.count("GET", r".*/webhooks") >= 1, what="a read-ahead request")
    daemon_exit(m, unmount_and_wait(m))
