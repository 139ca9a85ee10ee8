# SPDX-License-Identifier: MIT
"""The session loop (fs/session.c, issue 12): one worker reads /dev/fuse and answers what it
reads itself, looking for the next request for -o spin=USEC before it sleeps. A worker about
to wait (the network, another thread's fetch) hands the reading over, so nothing waits
behind a slow request; signals and unmounting end it; an idle mount costs no CPU.
"""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import run, wait_for

A = "023e105f4ecef8ad9ca31a8372d0c353"
P = "cfc2ffe4-ed22-41f1-ad33-ce50dcfe4bcc"   # town-hall: 5 webhooks
LIST_WEBHOOKS = r"/accounts/[^/]+/realtime/kit/[^/]+/webhooks"


def stats(m):
    return json.loads((m / ".rtkfs/stats.json").read_text())


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])      # utime + stime, in clock ticks


@pytest.mark.parametrize("spin", [250, 0], ids=["spin", "libfuse-loop"])
def test_a_slow_request_does_not_hold_up_the_others(api, mount, spin):
    """A listing that takes 2 s (the fake's injected latency) is being fetched for one
    reader; meanwhile lookups and reads of another app, already cached, are answered at once:
    the worker that waits on the network gave the reading of /dev/fuse to another."""
    m = mount(api, options={"ttl": 60, "prefetch": 0, "spin": spin})
    apps = [a["id"] for a in api.apps(A)]
    slow = next(a for a in apps if a != P)
    fast = m / f"accounts/{A}/apps/{P}/webhooks"
    names = sorted(os.listdir(fast))                 # cached now
    api.add_fault("latency", path=f"/realtime/kit/{slow}/webhooks", ms=2000)
    done = threading.Event()
    t = threading.Thread(target=lambda: (os.listdir(m / f"accounts/{A}/apps/{slow}/webhooks"),
                                         done.set()))
    t.start()
    try:
        # wait until the slow fetch is under way at the fake
        end = time.monotonic() + 5
        while not any(slow in r["path"] for r in api.requests()) and time.monotonic() < end:
            time.sleep(0.01)
        assert any(slow in r["path"] for r in api.requests())
        lookups = stats(m)["kernel"]["lookup"]
        t0 = time.monotonic()
        for n in names:
            assert os.stat(fast / n / "url").st_size > 0   # LOOKUPs that reach the daemon
            assert (fast / n / "id").read_text() == n + "\n"
        took = time.monotonic() - t0
        assert not done.is_set()                     # the slow one is still waiting
        assert took < 0.5, took
        assert stats(m)["kernel"]["lookup"] - lookups >= 2 * len(names)
        if spin:
            # handed over by the waiting worker itself, not found stuck by the watchdog
            loop = stats(m)["loop"]
            assert loop["handoffs"] >= 1 and loop["watchdog"] == 0, loop
    finally:
        t.join(10)
    assert done.is_set()


def pushed(m):
    """push.sent, or 0 if stats.json was read torn: with no OPEN, each READ renders it anew,
    and under this load the second read() of one open can meet a longer rendering."""
    try:
        return stats(m)["push"]["sent"]
    except ValueError:
        return 0


LOOPS = [({}, ()), ({"spin": 0}, ()), ({}, ("-s",))]
LOOP_IDS = ["session-loop", "libfuse-mt", "libfuse-s"]


@pytest.mark.parametrize("options,args", LOOPS, ids=LOOP_IDS)
def test_sigterm_ends_the_daemon_and_unmounts(api, mount, options, args):
    m = mount(api, options={"ttl": 60, **options}, args=args)
    assert os.listdir(m / "accounts")
    m.proc.send_signal(signal.SIGTERM)
    assert m.proc.wait(timeout=10) == 0          # -s exited 1: libfuse's loop returned 15
    assert not os.path.ismount(m.mnt)


@pytest.mark.parametrize("options,args", LOOPS, ids=LOOP_IDS)
def test_sigterm_during_cold_reads_ends_the_daemon(api, mount, options, args):
    """SIGTERM while files are looked up and read at once, the page cache dropped meanwhile:
    a push being sent may wait for the page of a READ that nobody reads any more once the
    loop has ended (1 hang in ~10 with -s, helper-12: SIGKILL could not end it). Stopping
    answers requests until the pushing threads have ended. Each round hits that moment only
    sometimes; the bug showed in ~1 of 10 rounds."""
    for i in range(12):
        api.add_webhook(A, P, {"name": f"t{i}", "url": f"https://t{i}.example.com/",
                               "events": ["meeting.started"]})
    for rnd in range(4):
        m = mount(api, options={"ttl": 1, **options}, args=args)
        wd = m.mnt / f"accounts/{A}/apps/{P}/webhooks"
        loops = [subprocess.Popen(["sh", "-c", f"while :; do for f in {wd}/*/*; do stat $f "
                                   ">/dev/null; cat $f >/dev/null & cat $f >/dev/null; wait; "
                                   "done; done"], stderr=subprocess.DEVNULL) for _ in range(2)]
        loops.append(subprocess.Popen(["sh", "-c", "while :; do echo 3 > "
                                       "/proc/sys/vm/drop_caches; sleep 0.05; done"]))
        try:
            wait_for(lambda: pushed(m) > 50, timeout=10)
            m.proc.send_signal(signal.SIGTERM)
            assert m.proc.wait(timeout=10) == 0, rnd
        finally:
            for p in loops:
                p.kill()
                p.wait()
        assert not os.path.ismount(m.mnt)


@pytest.mark.parametrize("spin", [250, 0], ids=["spin", "libfuse-loop"])
def test_lazy_unmount_ends_the_daemon_while_a_request_is_waiting(api, mount, spin):
    """fusermount3 -uz while one worker waits on a hanging fetch (the reading handed over to
    another): once the last user of the mount is gone, every worker ends and the daemon exits
    0, without waiting for the fetch."""
    m = mount(api, options={"ttl": 60, "timeout": 30, "prefetch": 0, "spin": spin})
    api.add_fault("latency", path=LIST_WEBHOOKS, ms=20000)
    p = run_bg(["ls", f"accounts/{A}/apps/{P}/webhooks"], cwd=m.path())
    end = time.monotonic() + 5
    while not api.count("GET", LIST_WEBHOOKS) and time.monotonic() < end:
        time.sleep(0.01)
    assert api.count("GET", LIST_WEBHOOKS) == 1
    r = run(["fusermount3", "-uz", str(m.mnt)])
    assert r.returncode == 0, r.stderr
    p.kill()
    p.wait()
    t0 = time.monotonic()
    assert m.proc.wait(timeout=25) == 0
    assert time.monotonic() - t0 < 3.0      # not the 20 s of the fetch


def run_bg(argv, cwd):
    return subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_an_idle_mount_costs_no_cpu(api, mount):
    """After a burst of requests the reader looks for spin us, the watchdog for a second, then
    both sleep: over two idle seconds the daemon uses (almost) no CPU."""
    m = mount(api, options={"ttl": 60, "spin": 1000})
    out = run(["grep", "-rl", "meeting", "accounts"], cwd=m.path(), timeout=60)
    assert out.returncode == 0
    time.sleep(1.5)      # the watchdog's second of looking after the last request passes
    t0 = cpu_ticks(m.proc.pid)
    time.sleep(2.0)      # the measurement: CPU used while nothing happens
    used = cpu_ticks(m.proc.pid) - t0
    assert used <= 2, used    # clock ticks (10 ms): at most ~1 % of a core


@pytest.mark.parametrize("env", [{}, {"RTKFS_TEST_UNANNOUNCED_WAITS": "1"}],
                         ids=["announced", "unannounced"])
def test_the_watchdog_looks_again_after_every_worker_waited_a_second(api, mount, env):
    """Every worker (-o max_threads=3) waits on the network for over a second: nobody reads
    /dev/fuse and no request comes, so the watchdog sleeps until one does. A WRITE queued
    meanwhile is read first when two of them are back, without a poll() (it is there
    already), and waits, unannounced, for the webhook's lock, which a third holds for its
    PATCH. The watchdog must be looking again: it hands the reading to the worker parked,
    which answers the rest of the two listings at once, not when the PATCH ends."""
    m = mount(api, options={"ttl": 60, "timeout": 30, "prefetch": 0},
              args=["-o", "max_threads=3"], env=env)
    slow = [a["id"] for a in api.apps(A) if a["id"] != P][:2]
    hooks = m / f"accounts/{A}/apps/{P}/webhooks"
    hook = hooks / sorted(os.listdir(hooks))[0]
    assert (hook / "name").read_text()
    url = os.open(hook / "url", os.O_WRONLY | os.O_TRUNC)
    name = os.open(hook / "name", os.O_WRONLY | os.O_TRUNC)
    api.add_fault("latency", method="PATCH", ms=4000, count=1)
    for a in slow:
        api.add_fault("latency", path=f"/realtime/kit/{a}/webhooks", ms=1500)
    writers = [threading.Thread(target=os.write, args=(url, b"https://example.com/a\n"))]
    writers[0].start()
    try:
        assert wait_for(lambda: api.count("PATCH") == 1, timeout=5)
        t0 = time.monotonic()
        listers = [threading.Thread(target=os.listdir,
                                    args=(m / f"accounts/{A}/apps/{a}/webhooks",))
                   for a in slow]
        for t in listers:
            t.start()
        assert wait_for(lambda: all(api.count("GET", rf"/accounts/{A}/realtime/kit/{a}/webhooks")
                                    for a in slow), timeout=5)
        # every worker waits: this WRITE stays in the kernel's queue until two are back
        writers.append(threading.Thread(target=os.write, args=(name, b"other\n")))
        writers[1].start()
        for t in listers:
            t.join(15)
        took = time.monotonic() - t0
        assert took < 2.5, took                  # 1.5 s of the listings, not 4 of the PATCH
        assert writers[0].is_alive()             # the PATCH is still under way
        loop = stats(m)["loop"]
        if env:   # nobody announced a wait: the watchdog handed the reading over
            assert loop["watchdog"] >= 1, loop
        else:     # the WRITE waiting for the webhook's lock said so (write.c lock_or_wait)
            assert loop["watchdog"] == 0 and loop["handoffs"] >= 1, loop
    finally:
        for t in writers:
            t.join(15)
        os.close(url)
        os.close(name)
