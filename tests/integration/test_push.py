# SPDX-License-Identifier: MIT
"""Bytes pushed into the page cache before they are read (issue 12; on by default).

When the kernel is handed a webhook's files (READDIRPLUS, LOOKUP), rtkfs pushes their bytes
into the page cache (FUSE notify_store), so the first read of them costs no READ. A push
never shows bytes older than a READ would return at that moment, never survives the
invalidation of a refresh that changed them, goes only to a file the kernel holds no page
of, and never lands over a local write.
"""
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import render, wait_for

A = "023e105f4ecef8ad9ca31a8372d0c353"
P = "cfc2ffe4-ed22-41f1-ad33-ce50dcfe4bcc"   # town-hall: 5 webhooks
FIELDS = ["created_at", "enabled", "events", "id", "name", "updated_at", "url"]


def wdir(a=A, p=P):
    return f"accounts/{a}/apps/{p}/webhooks"


def stats(m):
    return json.loads((m / ".rtkfs/stats.json").read_text())


def wait_pushed(m, at_least=1, timeout=10):
    """Until at_least stores were queued and every queued one landed (or was dropped)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = stats(m)["push"]
        if s["queued"] >= at_least and s["pending_bytes"] == 0:
            return s
        time.sleep(0.01)
    raise AssertionError(f"pushes did not land: {stats(m)['push']}")


def reads_of(m, action):
    """The READs the daemon received during action() (reading stats.json costs its own,
    measured the same way with nothing in between)."""
    r0 = stats(m)["kernel"]["read"]
    r1 = stats(m)["kernel"]["read"]
    action()
    r2 = stats(m)["kernel"]["read"]
    return (r2 - r1) - (r1 - r0)


@pytest.mark.parametrize("options", [{"ro": True}, {}], ids=["ro", "default"])
def test_cold_cat_after_ls_reaches_the_daemon_as_no_read(api, mount, options):
    m = mount(api, options=dict(options, ttl=30))    # push: the default
    hooks = api.webhooks(A, P)
    d = m / wdir() / hooks[0]["id"]
    assert sorted(os.listdir(d)) == sorted(FIELDS + ["webhook.json"])
    wait_pushed(m)
    out = {}
    n = reads_of(m, lambda: out.update({f: (d / f).read_bytes() for f in FIELDS}))
    assert n == 0
    assert out == {f: render(hooks[0][f]).encode() for f in FIELDS}
    s = stats(m)
    assert s["push"]["sent"] >= len(FIELDS) and s["push"]["missed"] == 0
    assert s["kernel"]["readdirplus"] >= 1 and s["kernel"]["lookup"] >= 1


def test_cold_cat_after_a_lookup_reaches_the_daemon_as_no_read(api, mount):
    m = mount(api, options={"ttl": 30})
    hook = api.webhooks(A, P)[1]
    f = m / wdir() / hook["id"] / "events"
    assert f.exists()                       # LOOKUPs down to the file, no READ
    wait_pushed(m)
    assert reads_of(m, f.read_bytes) == 0
    assert f.read_bytes() == render(hook["events"]).encode()


@pytest.mark.parametrize("spin", [None, 0], ids=["session-loop", "libfuse-loop"])
def test_a_glob_of_lookups_is_pushed_by_the_reader_between_requests(api, mount, spin):
    """The files a shell glob looks up (one LOOKUP each) are pushed: by the session loop's
    reader between requests (push.helped), or with libfuse's loop by the notifier thread."""
    m = mount(api, options={"ttl": 30} if spin is None else {"ttl": 30, "spin": spin})
    glob = "accounts/*/apps/*/webhooks/*/events"
    names = subprocess.run(["sh", "-c", f"for f in {glob}; do test -e $f && echo $f; done"],
                           cwd=m.path(), capture_output=True, text=True, check=True).stdout.split()
    assert len(names) >= 10
    s = wait_pushed(m)              # queued by each LOOKUP: all of them by now
    assert s["missed"] == 0 and s["sent"] >= len(names) // 2, s
    assert (s["helped"] > 0) == (spin is None), s
    out = {}
    assert reads_of(m, lambda: out.update({n: (m / n).read_bytes() for n in names})) == 0
    want = {f"{wdir(a['id'], p['id'])}/{h['id']}/events": render(h["events"]).encode()
            for a in api.accounts() for p in api.apps(a["id"])
            for h in api.webhooks(a["id"], p["id"])}
    assert out == {n: want[n] for n in names}


def test_first_read_after_ttl_shows_the_new_bytes(api, mount):
    m = mount(api, options={"ttl": 1})
    hook = api.webhooks(A, P)[0]
    d = m / wdir() / hook["id"]
    os.listdir(d)
    wait_pushed(m)
    assert (d / "url").read_text() == hook["url"] + "\n"      # the pushed page
    for url in ["https://changed.example.com/a-much-longer-path/than-before", "https://s.io/"]:
        api.set_webhook_field(A, P, hook["id"], "url", url)
        time.sleep(1.3)  # let the 1 s TTL pass: the behaviour under test
        assert (d / "url").read_text() == url + "\n"
        os.listdir(d)           # no push: the kernel holds the page it read
        assert (d / "url").read_text() == url + "\n"


def read_once(path):
    """The file's bytes in one read() call. Path.read_bytes() (like cat) calls read() until it
    returns 0: a value that changed and grew in between would add the new value's tail to the
    old one (SEMANTICS.md), which is no version of the file and not what this test is about."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def test_readers_never_see_bytes_older_than_allowed(api, mount):
    """Readers (read(), ls) run while the server changes a field: every read() returns exactly
    one of the values the field had, and never one older than the kernel may keep (the
    attributes of a listing up to ttl old, kept for ttl: 2 x ttl, plus slack)."""
    ttl = 1.0
    m = mount(api, options={"ttl": ttl})
    hooks = api.webhooks(A, P)[:3]
    dirs = [m / wdir() / h["id"] for h in hooks]
    # history[w]: [(set_start, set_end, value bytes)], in order
    history = {h["id"]: [(0.0, time.monotonic(), render(h["url"]).encode())] for h in hooks}
    reads, problems = [], []
    stop = threading.Event()

    def reader(i):
        while not stop.is_set():
            for h, d in zip(hooks, dirs):
                if i == 0:
                    os.listdir(d)           # READDIRPLUS: pushes
                t0 = time.monotonic()
                data = read_once(d / "url")
                reads.append((h["id"], t0, time.monotonic(), data))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(12):
            for h in hooks:
                url = f"https://v{i}.example.com/" + "p" * ((i * 37) % 90)
                t0 = time.monotonic()
                api.set_webhook_field(A, P, h["id"], "url", url)
                history[h["id"]].append((t0, time.monotonic(), (url + "\n").encode()))
            time.sleep(0.35)  # changes spread over several TTLs: the behaviour under test
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    slack = 0.5
    cut = []
    for w, t0, t1, data in reads:
        hist = history[w]
        ok = False
        for j, (start, _, value) in enumerate(hist):
            until = hist[j + 1][1] if j + 1 < len(hist) else float("inf")
            if start <= t1 and until >= t0 - 2 * ttl - slack:
                if value == data:
                    ok = True
                    break
                # The kernel's own race, with or without pushes (SEMANTICS.md): a read that
                # took an older value's size just before a refresh and its page after it.
                if value.startswith(data) and any(len(v) == len(data) for _, _, v in hist[:j]):
                    cut.append((w, round(t0, 3), data))
                    ok = True
                    break
        if not ok:
            problems.append((w, round(t0, 3), data))
    assert len(reads) > 100
    assert problems == []
    assert len(cut) * 10000 <= len(reads), (len(reads), cut)  # 0 to 2 in ~110,000 seen
    s = stats(m)["push"]
    assert s["sent"] > 0, s
    # Past 2 x ttl after the last change, every read shows the last value.
    time.sleep(2 * ttl + 0.3)
    for h, d in zip(hooks, dirs):
        assert (d / "url").read_bytes() == history[h["id"]][-1][2]


def test_push_off_reads_through_the_daemon(api, mount):
    m = mount(api, options={"ro": True, "ttl": 30, "push": 0})
    d = m / wdir() / api.webhooks(A, P)[0]["id"]
    os.listdir(d)
    assert reads_of(m, lambda: [(d / f).read_bytes() for f in FIELDS]) == len(FIELDS)
    assert stats(m)["push"]["queued"] == 0


def test_a_push_goes_only_to_a_file_the_kernel_holds_no_page_of(api, mount):
    """A file read once is not pushed again (its page may be being copied by a reader); when
    the kernel lets go of the directory (drop_caches), its files are new again."""
    m = mount(api, options={"ttl": 30})
    d = m / wdir() / api.webhooks(A, P)[2]["id"]
    os.listdir(d)
    sent = wait_pushed(m)["sent"]
    assert sent == len(FIELDS) + 1                       # and webhook.json
    assert reads_of(m, lambda: [(d / f).read_bytes() for f in FIELDS]) == 0
    os.listdir(d)
    os.stat(d / "url")
    assert stats(m)["push"]["queued"] == 1               # nothing queued again
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")
    wait_for(lambda: stats(m)["kernel"]["forget"] > 0)
    os.listdir(d)
    assert wait_pushed(m, at_least=2)["sent"] == 2 * sent
    # Read back (the bytes; how many READs is not asserted here: one in a full run once,
    # unexplained — a FORGET of the old directory may be delivered after the new lookup).
    assert [(d / f).read_bytes() for f in FIELDS] == \
        [render(api.webhooks(A, P)[2][f]).encode() for f in FIELDS]


def test_a_write_right_after_the_first_lookup_is_never_undone_by_a_push(api, mount):
    """The shell's `test -e f && printf ... > f` on files the kernel has just been handed: the
    lookup queues a push of the old bytes, the truncate and WRITE follow at once. A push
    queued before the write is not sent; one being sent meanwhile is followed by an
    invalidation. Every file then reads what was written (the server's bytes), never the old
    value or the old value's tail."""
    n = 120
    hooks = [api.add_webhook(A, P, {"name": f"w{i}", "url": f"https://h{i}.example.com/" + "p" * 60,
                                    "events": ["meeting.started", "meeting.ended",
                                               "recording.statusUpdate"]})
             for i in range(n)]
    m = mount(api, options={"ttl": 60})
    os.listdir(m / wdir())                    # the webhook directories, none of their files
    rounds = 0
    for field, value in [("events", "meeting.ended\n"), ("url", "https://x.io/\n")]:
        # Read back at once, in the same shell: what a push left would show now.
        script = "".join(
            f"test -e {h['id']}/{field} && printf '{value}' > {h['id']}/{field} && "
            f"{{ printf '{value}' | cmp -s - {h['id']}/{field} || echo BAD {h['id']}; }}\n"
            for h in hooks)
        r = m.sh(f"cd {m / wdir()} && {script}", timeout=120)
        assert r.returncode == 0 and r.stdout == "", (r.stdout, r.stderr)
        rounds += 1
        for h in hooks:
            f = m / wdir() / h["id"] / field
            assert read_once(f) == value.encode(), (field, h["id"])
            assert f.read_bytes() == value.encode(), (field, h["id"])
            assert os.stat(f).st_size == len(value)
        assert all(render(api.webhook(A, P, h["id"])[field]) == value for h in hooks)
    assert api.count("PATCH") == rounds * n
    s = stats(m)["push"]
    # First lookups queued pushes, and writes came while many were still queued (cancelled) or
    # being sent (raced): the case under test happened.
    assert s["queued"] >= n and s["cancelled"] + s["raced"] > 0, s
