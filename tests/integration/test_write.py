# SPDX-License-Identifier: MIT
"""The write path (DESIGN §6, issue 10): field files, webhook.json, create, rmdir, refusals.

Every test asserts the exact request the fake API saw (method, path, body), what `cat`
shows afterwards and what the fake API holds. Each write() takes effect when it is made and
returns its result (close() sends nothing): errors are observed from write().
"""
import errno
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import ROOT, TOKEN, epoch, pretty, render, run, wait_for

sys.path.insert(0, str(ROOT / "tests" / "fakeapi"))
import genfixture  # noqa: E402

A = "023e105f4ecef8ad9ca31a8372d0c353"        # Acme Media
P = "cfc2ffe4-ed22-41f1-ad33-ce50dcfe4bcc"     # town-hall: 5 webhooks
W = "79c8c292-6b94-45b5-b498-82321e35049e"     # "Recording archive", enabled, 1 event
W2 = "515c6123-6c88-4537-bcf3-bd58da60fb1c"    # "Legacy relay", disabled, 2 events
W3 = "88718c96-6f3d-48f7-b4b1-b64633be40f5"    # "Attendance"

LIST_WEBHOOKS = r"/accounts/[^/]+/realtime/kit/[^/]+/webhooks"
FIELDS = ("id", "name", "url", "enabled", "events", "created_at", "updated_at")
READ_WRITE = ("name", "url", "enabled", "events")
WRITTEN_WINDOW = 0.1    # s: how long a write shows its own spelling (SEMANTICS.md)
EMPTIED_WINDOW = 1.0    # s: how long a truncated, unwritten file reads empty


# --- helpers ---------------------------------------------------------------------------

def wdir(a=A, p=P):
    return f"accounts/{a}/apps/{p}/webhooks"


def hdir(w=W, a=A, p=P):
    return f"{wdir(a, p)}/{w}"


def api_path(w=None, a=A, p=P):
    base = f"/accounts/{a}/realtime/kit/{p}/webhooks"
    return f"{base}/{w}" if w else base








def cat(m, rel):
    """What cat(1) prints, or raise if it fails."""
    out = run(["cat", str(m / rel)])
    assert out.returncode == 0, f"cat {rel}: {out.stderr}"
    return out.stdout


def write(path, data, flags=os.O_WRONLY | os.O_TRUNC, chunks=None, mode=0o644):
    """open/write/close with Python; the errno of the first call that fails, or 0.

    chunks: write `data` in pieces of these sizes (several write() calls in one open).
    """
    if isinstance(data, str):
        data = data.encode()
    try:
        fd = os.open(path, flags, mode)
    except OSError as e:
        return e.errno
    try:
        pos = 0
        for size in (chunks or [len(data)]):
            piece = data[pos:pos + size]
            pos += size
            while piece:
                n = os.write(fd, piece)
                piece = piece[n:]
        assert pos >= len(data), "chunks do not cover the data"
    except OSError as e:
        os.close(fd)
        return e.errno
    try:
        os.close(fd)
    except OSError as e:
        return e.errno
    return 0


def writes(api):
    """The requests of the log that are not GETs."""
    return [r for r in api.requests() if r["method"] != "GET"]


def sent(api):
    """(method, path, body) of every non-GET request."""
    return [(r["method"], r["path"], r["body"]) for r in writes(api)]


def list_gets_after(api, method):
    """GETs of a webhooks listing logged after the last `method` request."""
    log = api.requests()
    last = max(i for i, r in enumerate(log) if r["method"] == method)
    return [r for r in log[last + 1:]
            if r["method"] == "GET" and re.fullmatch(LIST_WEBHOOKS, r["path"])]


def warm(m, a=A, p=P):
    """List the app's webhooks and read one of them, so the listing is cached."""
    names = os.listdir(m / wdir(a, p))
    assert names
    return names


def direct_get(api, w=W, a=A, p=P):
    """GET the webhook from the fake API over HTTP, as any client would."""
    req = urllib.request.Request(api.url + api_path(w, a, p),
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["data"]


def shows_what_api_holds(m, api, w=W, a=A, p=P):
    """Every file of the webhook shows what the fake API holds for it now (its store and
    a direct GET agree). A file just written in another spelling than the server's shows
    the written bytes for at most WRITTEN_WINDOW, one truncated and not written reads empty
    for at most EMPTIED_WINDOW (SEMANTICS.md), hence the wait."""
    hook = api.webhook(a, p, w)
    assert hook is not None
    assert direct_get(api, w, a, p) == hook
    want = {f: render(hook[f]) for f in FIELDS}
    want["webhook.json"] = pretty(hook)
    wait_for(lambda: all(cat(m, f"{hdir(w, a, p)}/{f}") == v for f, v in want.items()),
             timeout=EMPTIED_WINDOW * 2)
    for field, value in want.items():
        assert cat(m, f"{hdir(w, a, p)}/{field}") == value, field
    return hook


def ctl(m, name):
    return (m / f".rtkfs/{name}").read_text()


# --- field files -----------------------------------------------------------------------

@pytest.mark.parametrize("field,text,value", [
    ("enabled", "false\n", False),
    ("enabled", "0\n", False),
    ("name", "Recordings (new)\n", "Recordings (new)"),
    ("name", "Débogage — ünïcode ✓", "Débogage — ünïcode ✓"),
    ("url", "https://new.example.com/hook?x=1\n", "https://new.example.com/hook?x=1"),
    ("url", "http://127.0.0.1:9/local\n", "http://127.0.0.1:9/local"),
    ("events", "meeting.started\nmeeting.ended\n", ["meeting.started", "meeting.ended"]),
    ("events", "meeting.ended meeting.started meeting.ended\n",
     ["meeting.ended", "meeting.started"]),
])
def test_field_write_sends_one_patch(api, mount, field, text, value):
    m = mount(api)
    before = api.webhook(A, P, W)
    warm(m)
    assert cat(m, f"{hdir()}/{field}") == render(before[field])
    api.clear_log()
    assert write(m / f"{hdir()}/{field}", text) == 0
    assert sent(api) == [("PATCH", api_path(W), {field: value})]
    assert writes(api)[0]["status"] == 200
    after = api.webhook(A, P, W)
    assert after[field] == value
    assert after["updated_at"] > before["updated_at"]
    # The cache holds what the server returned: shown at once (or, when the server's
    # spelling differs, after the written bytes for at most WRITTEN_WINDOW), without
    # asking again.
    assert cat(m, f"{hdir()}/{field}") in (render(value), text)
    assert wait_for(lambda: cat(m, f"{hdir()}/{field}") == render(value),
                    timeout=WRITTEN_WINDOW * 5)
    assert cat(m, f"{hdir()}/updated_at") == render(after["updated_at"])
    assert cat(m, f"{hdir()}/webhook.json") == pretty(after)
    assert abs(os.stat(m / f"{hdir()}/{field}").st_mtime - epoch(after["updated_at"])) < 0.002
    assert abs(os.stat(m / hdir()).st_mtime - epoch(after["updated_at"])) < 0.002
    assert os.stat(m / f"{hdir()}/{field}").st_size == len(render(value).encode())
    assert list_gets_after(api, "PATCH") == []
    shows_what_api_holds(m, api)
    # The other webhooks are untouched.
    assert [h for h in api.webhooks(A, P) if h["id"] != W] == \
        [h for h in api.webhooks(A, P) if h["id"] != W]


def test_shell_tools_write_fields(api, mount):
    """echo >, printf >, tee, dd, cp: each one PATCH with the field."""
    m = mount(api)
    warm(m)
    api.clear_log()
    h = m / hdir()
    src = m.dir / "events.txt"
    src.write_text("meeting.summary\nmeeting.transcript\n")
    steps = [
        (["sh", "-c", f"/bin/echo false > '{h}/enabled'"], {"enabled": False}),
        (["sh", "-c", f"/usr/bin/printf 'meeting.started\\nmeeting.ended\\n' > '{h}/events'"],
         {"events": ["meeting.started", "meeting.ended"]}),
        (["tee", str(h / "name")], {"name": "Teed name"}),
        (["dd", f"of={h}/url", "status=none"], {"url": "https://dd.example.com/x"}),
        (["cp", str(src), str(h / "events")],
         {"events": ["meeting.summary", "meeting.transcript"]}),
    ]
    inputs = {"tee": "Teed name\n", "dd": "https://dd.example.com/x\n"}
    for argv, body in steps:
        api.clear_log()
        out = subprocess.run(argv, input=inputs.get(argv[0], ""), capture_output=True,
                             text=True, timeout=20)
        assert out.returncode == 0, (argv, out.stderr)
        assert sent(api) == [("PATCH", api_path(W), body)], argv
        (key, value), = body.items()
        assert api.webhook(A, P, W)[key] == value
        assert cat(m, f"{hdir()}/{key}") == render(value)
    shows_what_api_holds(m, api)


def test_every_reader_sees_the_write_at_once(api, mount):
    """Right after write() returns, a new open and an fd opened before the write both read
    the new value: the kernel's page cache and attributes do not hold the old one."""
    m = mount(api, options={"ttl": 60})
    warm(m)
    f = m / f"{hdir()}/enabled"
    old_fd = os.open(f, os.O_RDONLY)
    try:
        value = api.webhook(A, P, W)["enabled"]
        for i in range(30):
            assert os.pread(old_fd, 100, 0).decode() == render(value), i
            assert f.read_text() == render(value), i
            value = not value
            assert write(f, render(value)) == 0
            assert f.read_text() == render(value), i
            assert os.pread(old_fd, 100, 0).decode() == render(value), i
            assert os.stat(f).st_size == len(render(value)), i
            assert cat(m, f"{hdir()}/webhook.json") == pretty(api.webhook(A, P, W)), i
    finally:
        os.close(old_fd)
    assert api.count("PATCH") == 30
    assert api.count("GET", LIST_WEBHOOKS) == 1


def test_other_files_of_the_webhook_show_the_write_at_once(api, mount):
    """The files beside the one written (webhook.json, the app's webhooks.json) are dropped
    from the kernel's page cache before write() returns: read the instant it returns, with
    their old bytes cached just before, they already show the server's answer."""
    m = mount(api, options={"ttl": 60})
    warm(m)
    f = m / f"{hdir()}/enabled"
    doc = m / f"{hdir()}/webhook.json"
    coll = m / f"accounts/{A}/apps/{P}/webhooks.json"
    value = api.webhook(A, P, W)["enabled"]

    def shows(doc_bytes, coll_bytes, v):
        return json.loads(doc_bytes)["enabled"] is v and \
            [h for h in json.loads(coll_bytes) if h["id"] == W][0]["enabled"] is v

    def late():   # writes that stopped waiting: at the bound, or behind a raced store
        st = json.loads(ctl(m, "stats.json"))["settle"]
        return st["late"] + st["blocked"]

    stale, excused = [], 0
    for i in range(200):
        # Cached before the write (a write that ran into the bound may still be landing).
        assert wait_for(lambda: shows(doc.read_bytes(), coll.read_bytes(), value)), i
        value = not value
        late0 = late()
        fd = os.open(f, os.O_WRONLY | os.O_TRUNC)
        try:
            assert os.write(fd, render(value).encode()) == len(render(value))
            seen = (doc.read_bytes(), coll.read_bytes())   # at once: nothing in between
        finally:
            os.close(fd)
        if not shows(*seen, value):
            if late() > late0:
                excused += 1    # that write stopped waiting at the bound (counted)
            else:
                stale.append((i, json.loads(seen[0])["enabled"] is value, [h for h in json.loads(seen[1]) if h["id"] == W][0]["enabled"] is value))
    # webhook.json is writable too: its invalidation went to the queue of written files,
    # which settle does not wait for, and 1 read in ~200 showed its old bytes. It now goes on
    # the queue settle waits for when no other write of the webhook is under way.
    assert not stale, f"{len(stale)} of 200 reads right after write() were old: {stale}"
    # Each write waited for the drops; at most a few ran into the bound (a loaded machine:
    # the notifier thread not scheduled for 0.1 s), and on a quiet one none.
    st = json.loads(ctl(m, "stats.json"))["settle"]
    assert st["writes"] == 200 and st["late"] <= 5 and excused <= st["late"] + st["blocked"], \
        (st, excused)
    assert api.count("PATCH") == 200
    assert api.count("GET", LIST_WEBHOOKS) == 1


def test_writers_of_one_webhook_do_not_hold_up_each_other_or_others(api, mount):
    """Two writers of one webhook's fields and a writer of another webhook: no settle runs
    into the 0.1 s bound. The other writer's field file was dropped on the queue that settle
    waits for while its WRITE, waiting in settle, held its pages: each wait ran to the bound
    (~90% of them late) and stalled the notifier for every webhook (the third writer's
    write() took 0.1 s, 40 writes in 4 s instead of 1,600)."""
    m = mount(api, options={"ttl": 60})
    warm(m)
    done, errors = [], []

    def writer(w, field, values):
        try:
            for i in range(150):
                assert write(m / f"{hdir(w)}/{field}", values(i)) == 0
            done.append(field)
        except AssertionError as e:
            errors.append((w, field, repr(e)))

    ts = [threading.Thread(target=writer, args=(W, "name", lambda i: f"name {i}\n")),
          threading.Thread(target=writer, args=(W, "url",
                                                lambda i: f"https://u{i}.example.com/\n")),
          threading.Thread(target=writer, args=(W3, "enabled",
                                                lambda i: render(bool(i % 2))))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    assert not errors and sorted(done) == ["enabled", "name", "url"]
    settle = json.loads(ctl(m, "stats.json"))["settle"]
    assert settle["writes"] > 0 and settle["late"] == 0, settle
    assert api.webhook(A, P, W)["name"] == "name 149"


def test_unchanged_value_sends_nothing(api, mount):
    m = mount(api)
    hook = api.webhook(A, P, W)
    warm(m)
    api.clear_log()
    for field in READ_WRITE:
        assert write(m / f"{hdir()}/{field}", render(hook[field])) == 0, field
    assert write(m / f"{hdir()}/enabled", "1\n") == 0           # true, as it is
    assert write(m / f"{hdir()}/events", "recording.statusUpdate recording.statusUpdate") == 0
    # Opened for writing and closed without writing: nothing either.
    assert write(m / f"{hdir()}/name", "", flags=os.O_WRONLY) == 0
    assert writes(api) == []
    assert api.webhook(A, P, W) == hook
    shows_what_api_holds(m, api)


def test_truncate_then_write(api, mount):
    """open without O_TRUNC, ftruncate(0), then write: the value is what was written."""
    m = mount(api)
    warm(m)
    api.clear_log()
    fd = os.open(m / f"{hdir()}/name", os.O_WRONLY)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, b"Short\n")
    finally:
        os.close(fd)
    assert sent(api) == [("PATCH", api_path(W), {"name": "Short"})]
    assert cat(m, f"{hdir()}/name") == "Short\n"
    # Without truncation, a write at offset 0 starts a new value (each write is a value).
    api.clear_log()
    fd = os.open(m / f"{hdir()}/name", os.O_WRONLY)
    try:
        os.write(fd, b"Sh")
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"Wh")
        # Any offset but 0 or the end of the value so far is EINVAL, and sends nothing.
        os.lseek(fd, 1, os.SEEK_SET)
        with pytest.raises(OSError) as e:
            os.write(fd, b"x")
        assert e.value.errno == errno.EINVAL
    finally:
        os.close(fd)
    assert sent(api) == [("PATCH", api_path(W), {"name": "Sh"}),
                         ("PATCH", api_path(W), {"name": "Wh"})]
    shows_what_api_holds(m, api)


def test_several_writes_in_one_open_each_take_effect(api, mount):
    """Writes at consecutive offsets extend the value; each write that leaves a valid,
    changed value sends one PATCH of the whole value (SEMANTICS.md)."""
    m = mount(api)
    warm(m)
    api.clear_log()
    lines = ["meeting.started\n", "meeting.participantJoined\n", "meeting.ended\n"]
    assert write(m / f"{hdir()}/events", "".join(lines), chunks=[len(x) for x in lines]) == 0
    assert sent(api) == [
        ("PATCH", api_path(W), {"events": ["meeting.started"]}),
        ("PATCH", api_path(W), {"events": ["meeting.started", "meeting.participantJoined"]}),
        ("PATCH", api_path(W), {
            "events": ["meeting.started", "meeting.participantJoined", "meeting.ended"]})]
    # A value cut mid-word is not valid: the write that leaves it so is EINVAL, and nothing
    # invalid is sent.
    api.clear_log()
    url = "https://hooks.example.com/" + "a" * 300
    assert write(m / f"{hdir()}/url", url + "\n", chunks=[1] * (len(url) + 1)) == errno.EINVAL
    assert write(m / f"{hdir()}/events", "meeting.started\n", chunks=[3, 100]) == errno.EINVAL
    assert writes(api) == []
    shows_what_api_holds(m, api)


def test_append_adds_an_event(api, mount):
    m = mount(api)
    assert api.webhook(A, P, W)["events"] == ["recording.statusUpdate"]
    warm(m)
    api.clear_log()
    out = run(["sh", "-c", f"echo meeting.ended >> '{m / hdir()}/events'"])
    assert out.returncode == 0, out.stderr
    assert sent(api) == [("PATCH", api_path(W), {
        "events": ["recording.statusUpdate", "meeting.ended"]})]
    assert cat(m, f"{hdir()}/events") == "recording.statusUpdate\nmeeting.ended\n"
    # O_APPEND from Python, twice in one open; an event already there is folded, so the
    # second write changes nothing and sends nothing.
    api.clear_log()
    assert write(m / f"{hdir()}/events", "meeting.started\nrecording.statusUpdate\n",
                 flags=os.O_WRONLY | os.O_APPEND, chunks=[16, 100]) == 0
    assert sent(api) == [("PATCH", api_path(W), {
        "events": ["recording.statusUpdate", "meeting.ended", "meeting.started"]})]
    hook = shows_what_api_holds(m, api)
    assert hook["events"] == ["recording.statusUpdate", "meeting.ended", "meeting.started"]


@pytest.mark.parametrize("field", ["events", "enabled", "name", "url", "webhook.json"])
def test_truncate_with_nothing_written_changes_nothing(api, mount, field):
    """`: > events` truncates and writes nothing: nothing is sent and nothing changes (the
    file reads empty until written, for at most a second). `echo > events` clears events."""
    m = mount(api)
    hook = api.webhook(A, P, W)
    warm(m)
    api.clear_log()
    out = run(["bash", "-c", f": > '{m / hdir()}/{field}'"])
    assert out.returncode == 0, out.stderr
    assert write(m / f"{hdir()}/{field}", b"") == 0
    assert writes(api) == []
    assert api.webhook(A, P, W) == hook
    assert wait_for(lambda: cat(m, f"{hdir()}/{field}") != "", timeout=3)
    shows_what_api_holds(m, api)
    assert "last write error: none" in ctl(m, "status")


def test_echo_newline_clears_events(api, mount):
    m = mount(api)
    warm(m)
    api.clear_log()
    out = run(["bash", "-c", f"echo > '{m / hdir()}/events'"])
    assert out.returncode == 0, out.stderr
    assert [(r["method"], r["path"], r["body"], r["status"]) for r in writes(api)] == [
        ("PATCH", api_path(W), {"events": []}, 200)]
    assert api.webhook(A, P, W)["events"] == []
    assert cat(m, f"{hdir()}/events") in ("", "\n")
    assert wait_for(lambda: cat(m, f"{hdir()}/events") == "", timeout=WRITTEN_WINDOW * 5)
    shows_what_api_holds(m, api)


def test_shell_redirection_sends_one_request(api, mount):
    """`echo x > f` dups and closes the descriptor before writing: exactly one PATCH, with
    the value, never an empty one first."""
    m = mount(api)
    warm(m)
    api.clear_log()
    out = run(["sh", "-c", f"echo meeting.summary > {hdir()}/events"], cwd=m.path())
    assert out.returncode == 0, out.stderr
    assert [(r["method"], r["body"]) for r in writes(api)] == [
        ("PATCH", {"events": ["meeting.summary"]})]


def test_invalid_values_are_refused_locally(api, mount):
    m = mount(api)
    hook = api.webhook(A, P, W)
    warm(m)
    api.clear_log()
    bad = [
        ("enabled", "yes\n"), ("enabled", "TRUE\n"), ("enabled", "\n"),
        ("enabled", "true\nfalse\n"),
        ("url", "not a url\n"), ("url", "ftp://example.com/x\n"),
        ("url", "http://example.com/plain-http\n"), ("url", "/relative/path\n"),
        ("url", "https://exa mple.com/\n"),
        ("events", "meeting.started\nmeeting.exploded\n"), ("events", "MEETING.STARTED\n"),
        ("name", "\n"), ("name", "two\nlines\n"), ("name", b"bad \xff utf8\n"),
        ("name", b"nul\x00byte\n"), ("url", b"https://example.com/\x00\n"),
        ("events", b"meeting.started\x00\n"),
    ]
    for field, text in bad:
        assert write(m / f"{hdir()}/{field}", text) == errno.EINVAL, (field, text)
    assert writes(api) == []
    assert api.webhook(A, P, W) == hook
    shows_what_api_holds(m, api)
    # The reason is kept for the user.
    status = ctl(m, "status")
    assert "last write error: " in status
    assert "none" not in status.split("last write error: ")[1].splitlines()[0]
    stats = json.loads(ctl(m, "stats.json"))
    assert stats["last_write_error"]["message"]
    # /bin/echo sees the error of write() too (exit status 1).
    out = run(["sh", "-c", f"/bin/echo maybe > '{m / hdir()}/enabled'"])
    assert out.returncode != 0
    assert "Invalid argument" in out.stderr
    assert writes(api) == []


def test_read_only_fields_cannot_be_written(api, mount):
    m = mount(api)
    warm(m)
    api.clear_log()
    for field in ("id", "created_at", "updated_at"):
        assert write(m / f"{hdir()}/{field}", "x\n") == errno.EACCES, field
    assert write(m / f"accounts/{A}/name", "x\n") == errno.EACCES
    assert write(m / f"accounts/{A}/apps/{P}/name", "x\n") == errno.EACCES
    assert writes(api) == []


# --- webhook.json ----------------------------------------------------------------------

def test_webhook_json_put(api, mount):
    m = mount(api)
    warm(m)
    doc = json.loads(cat(m, f"{hdir()}/webhook.json"))
    doc.update(name="Replaced", url="https://replaced.example.com/h",
               events=["meeting.summary", "meeting.started"], enabled=False)
    api.clear_log()
    assert write(m / f"{hdir()}/webhook.json", json.dumps(doc, indent=2) + "\n") == 0
    # id, created_at and updated_at are not sent.
    assert sent(api) == [("PUT", api_path(W), {
        "name": "Replaced", "url": "https://replaced.example.com/h",
        "events": ["meeting.summary", "meeting.started"], "enabled": False})]
    after = api.webhook(A, P, W)
    assert after["name"] == "Replaced" and after["enabled"] is False
    assert after["updated_at"] > doc["updated_at"]
    assert wait_for(lambda: cat(m, f"{hdir()}/webhook.json") == pretty(after),
                    timeout=WRITTEN_WINDOW * 5)
    assert list_gets_after(api, "PUT") == []
    shows_what_api_holds(m, api)
    # enabled may be left out; cp of a file works too.
    src = m.dir / "hook.json"
    src.write_text(json.dumps({"name": "Minimal", "url": "https://min.example.com/",
                               "events": []}))
    api.clear_log()
    out = run(["cp", str(src), str(m / hdir() / "webhook.json")])
    assert out.returncode == 0, out.stderr
    assert sent(api) == [("PUT", api_path(W), {
        "name": "Minimal", "url": "https://min.example.com/", "events": []})]
    shows_what_api_holds(m, api)


@pytest.mark.parametrize("doc", [
    "not json",
    "[1, 2]",
    '{"name": "x", "url": "https://x.example.com/", "events": [], "extra": 1}',
    '{"url": "https://x.example.com/", "events": []}',
    '{"name": "x", "events": []}',
    '{"name": "x", "url": "https://x.example.com/"}',
    '{"name": "x", "url": "https://x.example.com/", "events": ["nope"]}',
    '{"name": "x", "url": "https://x.example.com/", "events": [], "enabled": "yes"}',
    '{"name": "", "url": "https://x.example.com/", "events": []}',
    '{"name": "x", "url": "http://example.com/", "events": []}',
    '{"name": "a\\u0000b", "url": "https://x.example.com/", "events": []}',
    '{"name": "x", "url": "https://x.example.com/", "events": ["meeting.started\\u0000"]}',
])
def test_webhook_json_refused_locally(api, mount, doc):
    m = mount(api)
    hook = api.webhook(A, P, W)
    warm(m)
    api.clear_log()
    assert write(m / f"{hdir()}/webhook.json", doc) == errno.EINVAL
    assert writes(api) == []
    assert api.webhook(A, P, W) == hook
    shows_what_api_holds(m, api)


# --- failures: what cat shows afterwards equals what the fake API holds ------------------

@pytest.mark.parametrize("status,expected", [
    (400, errno.EINVAL),
    (401, errno.EACCES),
    (403, errno.EACCES),
    (500, errno.EIO),
    (503, errno.EIO),
])
def test_server_refuses_patch(api, mount, status, expected):
    m = mount(api)
    hook = api.webhook(A, P, W)
    warm(m)
    assert cat(m, f"{hdir()}/enabled") == "true\n"
    api.add_fault("status", status=status, method="PATCH")
    api.clear_log()
    assert write(m / f"{hdir()}/enabled", "false\n") == expected
    # One PATCH: writes are never retried.
    assert [(r["method"], r["path"], r["body"], r["status"]) for r in writes(api)] == [
        ("PATCH", api_path(W), {"enabled": False}, status)]
    assert api.webhook(A, P, W) == hook
    assert cat(m, f"{hdir()}/enabled") == "true\n"
    shows_what_api_holds(m, api)
    # The server's message is kept.
    assert f"injected {status}" in ctl(m, "status")
    assert f"injected {status}" in json.loads(ctl(m, "stats.json"))["last_write_error"]["message"]
    # And the next write goes through.
    api.clear_faults()
    api.clear_log()
    assert write(m / f"{hdir()}/enabled", "false\n") == 0
    assert sent(api) == [("PATCH", api_path(W), {"enabled": False})]
    shows_what_api_holds(m, api)


def test_server_refuses_put_and_the_real_400(api, mount):
    m = mount(api)
    hook = api.webhook(A, P, W)
    warm(m)
    api.add_fault("status", status=500, method="PUT")
    doc = {"name": "New", "url": "https://n.example.com/", "events": ["meeting.started"]}
    api.clear_log()
    assert write(m / f"{hdir()}/webhook.json", json.dumps(doc)) == errno.EIO
    assert sent(api) == [("PUT", api_path(W), doc)]
    assert api.webhook(A, P, W) == hook
    shows_what_api_holds(m, api)


def test_webhook_deleted_meanwhile(api, mount):
    m = mount(api, options={"ttl": 30})
    warm(m)
    assert cat(m, f"{hdir()}/enabled") == "true\n"
    api.delete_webhook(A, P, W)
    api.clear_log()
    assert write(m / f"{hdir()}/enabled", "false\n") == errno.ENOENT
    assert sent(api) == [("PATCH", api_path(W), {"enabled": False})]
    assert writes(api)[0]["status"] == 404
    assert api.webhook(A, P, W) is None
    # rtkfs shows what the server holds: the webhook is gone.
    assert W not in os.listdir(m / wdir())
    assert sorted(os.listdir(m / wdir())) == sorted(h["id"] for h in api.webhooks(A, P))
    assert not os.path.exists(m / hdir())
    assert run(["cat", str(m / f"{hdir()}/enabled")]).returncode != 0
    assert "resource not found" in ctl(m, "status")


def test_timeout_after_the_server_applied_the_change(api, mount):
    m = mount(api, options={"timeout": 2, "ttl": 30})
    warm(m)
    assert cat(m, f"{hdir()}/enabled") == "true\n"
    fault = api.add_fault("hang", method="PATCH", phase="after")
    api.clear_log()
    t0 = time.monotonic()
    assert write(m / f"{hdir()}/enabled", "false\n") == errno.ETIMEDOUT
    assert time.monotonic() - t0 < 2 + 2
    assert sent(api) == [("PATCH", api_path(W), {"enabled": False})]
    api.remove_fault(fault)
    # The fake applied it; rtkfs could not know, so it asks again before showing it
    # (even though the listing would still be fresh for 30 s).
    assert api.webhook(A, P, W)["enabled"] is False
    assert cat(m, f"{hdir()}/enabled") == "false\n"
    assert len(list_gets_after(api, "PATCH")) >= 1
    shows_what_api_holds(m, api)


def test_timeout_before_the_server_applied_the_change(api, mount):
    """A hang before the handler: the server holds the old value, and rtkfs shows it."""
    m = mount(api, options={"timeout": 2, "ttl": 30})
    warm(m)
    hook = api.webhook(A, P, W)
    fault = api.add_fault("hang", method="PATCH")
    api.clear_log()
    assert write(m / f"{hdir()}/name", "Never\n") == errno.ETIMEDOUT
    api.remove_fault(fault)
    assert api.webhook(A, P, W) == hook
    shows_what_api_holds(m, api)


def test_connection_reset_after_write(api, mount):
    """The server applied the PATCH and reset the connection: the outcome is unknown to
    rtkfs, the write is not sent again, and what is shown is fetched again."""
    m = mount(api, options={"timeout": 3, "ttl": 30})
    warm(m)                               # the PATCH goes out on a reused connection
    api.add_fault("reset", method="PATCH", phase="after", count=1)
    api.clear_log()
    err = write(m / f"{hdir()}/url", "https://reset.example.com/\n")
    assert [(r["method"], r["status"]) for r in writes(api)] == [("PATCH", None)]
    assert err != 0
    assert api.webhook(A, P, W)["url"] == "https://reset.example.com/"
    shows_what_api_holds(m, api)


def test_unknown_outcome_in_an_outage_hides_only_that_webhook(api, mount):
    """A write whose answer never came, then the API goes away: the webhook written is EIO
    until a fetch says what the server holds (DESIGN §6), while the app's other webhooks are
    still served from the stale listing; once the API is back, the written one shows it."""
    m = mount(api, options={"timeout": 3, "ttl": 30})
    warm(m)
    other = cat(m, f"{hdir(W2)}/url")
    api.add_fault("reset", method="PATCH", phase="after", count=1)
    assert write(m / f"{hdir()}/url", "https://reset.example.com/\n") != 0
    api.down("drop")
    try:
        for _ in range(3):
            assert cat(m, f"{hdir(W2)}/url") == other
            assert cat(m, f"{hdir(W3)}/name") == render(api.webhook(A, P, W3)["name"])
            out = run(["cat", str(m / hdir() / "url")])
            assert out.returncode != 0 and "Input/output error" in out.stderr, out
    finally:
        api.up()
    assert wait_for(lambda: run(["cat", str(m / hdir() / "url")]).stdout
                    == "https://reset.example.com/\n", timeout=5)
    shows_what_api_holds(m, api)


def test_create_is_never_sent_twice(api, mount):
    """A POST answered by a reset must not be sent again: that would create two webhooks."""
    m = mount(api, options={"timeout": 3, "ttl": 30})
    before = {h["id"] for h in api.webhooks(A, P)}
    warm(m)                               # the POST goes out on a reused connection
    api.add_fault("reset", method="POST", phase="after", count=1)
    api.clear_log()
    err = write(m / wdir() / "hook.json", json.dumps(NEW_HOOK), flags=os.O_WRONLY | os.O_CREAT)
    assert api.count("POST") == 1
    assert len(api.webhooks(A, P)) == len(before) + 1
    assert err != 0
    assert not os.path.exists(m / wdir() / "hook.json")
    assert sorted(os.listdir(m / wdir())) == sorted(h["id"] for h in api.webhooks(A, P))


# --- rmdir -----------------------------------------------------------------------------

def test_rmdir_deletes_the_webhook(api, mount):
    m = mount(api, options={"ttl": 30})
    names = warm(m)
    assert W in names
    os.listdir(m / hdir())
    api.clear_log()
    out = run(["rmdir", str(m / hdir())])
    assert out.returncode == 0, out.stderr
    assert sent(api) == [("DELETE", api_path(W), None)]
    assert writes(api)[0]["status"] == 200
    assert api.webhook(A, P, W) is None
    # Gone for every reader at once, with no new request.
    assert W not in os.listdir(m / wdir())
    assert not os.path.exists(m / hdir())
    assert run(["ls", str(m / wdir())]).stdout.split() == sorted(
        h["id"] for h in api.webhooks(A, P))
    assert run(["cat", str(m / f"{hdir()}/name")]).returncode != 0
    assert list_gets_after(api, "DELETE") == []
    # A second rmdir: ENOENT, nothing sent.
    api.clear_log()
    with pytest.raises(FileNotFoundError):
        os.rmdir(m / hdir())
    assert writes(api) == []


def test_rmdir_of_a_webhook_deleted_meanwhile(api, mount):
    m = mount(api, options={"ttl": 30})
    warm(m)
    api.delete_webhook(A, P, W2)
    api.clear_log()
    with pytest.raises(FileNotFoundError):
        os.rmdir(m / hdir(W2))
    assert sent(api) == [("DELETE", api_path(W2), None)]
    assert W2 not in os.listdir(m / wdir())


def test_rmdir_refused_by_the_server_keeps_the_webhook(api, mount):
    m = mount(api)
    warm(m)
    api.add_fault("status", status=500, method="DELETE")
    api.clear_log()
    with pytest.raises(OSError) as e:
        os.rmdir(m / hdir())
    assert e.value.errno == errno.EIO
    assert sent(api) == [("DELETE", api_path(W), None)]
    assert W in os.listdir(m / wdir())
    shows_what_api_holds(m, api)


def test_rmdir_reset_is_not_sent_again(api, mount):
    """A DELETE answered by a reset is not sent again (a second one would answer 404 and
    rmdir would report ENOENT for a delete that happened); the webhook is gone."""
    m = mount(api, options={"timeout": 3, "ttl": 30})
    warm(m)                               # the DELETE goes out on a reused connection
    api.add_fault("reset", method="DELETE", phase="after", count=1)
    api.clear_log()
    err = _errno_of(os.rmdir, m / hdir())
    assert [(r["method"], r["status"]) for r in writes(api)] == [("DELETE", None)]
    assert err != 0
    assert api.webhook(A, P, W) is None
    assert sorted(os.listdir(m / wdir())) == sorted(h["id"] for h in api.webhooks(A, P))


def test_rmdir_elsewhere_is_refused(api, mount):
    m = mount(api)
    warm(m)
    api.clear_log()
    for rel in (wdir(), f"accounts/{A}/apps/{P}", f"accounts/{A}"):
        with pytest.raises(OSError) as e:
            os.rmdir(m / rel)
        assert e.value.errno in (errno.EPERM, errno.ENOTEMPTY, errno.EBUSY), rel
    assert writes(api) == []


# --- create ----------------------------------------------------------------------------

NEW_HOOK = {"name": "Created by cp", "url": "https://created.example.com/hook",
            "events": ["meeting.started", "meeting.summary"], "enabled": False}


def _check_created(m, api, before_ids, body):
    new = [h for h in api.webhooks(A, P) if h["id"] not in before_ids]
    assert len(new) == 1
    hook = new[0]
    for k, v in body.items():
        assert hook[k] == v
    assert sorted(os.listdir(m / wdir())) == sorted(h["id"] for h in api.webhooks(A, P))
    assert os.path.isdir(m / hdir(hook["id"]))
    shows_what_api_holds(m, api, hook["id"])
    assert f"last created: {hook['id']}" in ctl(m, "status")
    assert json.loads(ctl(m, "stats.json"))["last_created"] == hook["id"]
    return hook


def test_create_with_cp(api, mount):
    m = mount(api)
    before = {h["id"] for h in api.webhooks(A, P)}
    warm(m)
    src = m.dir / "hook.json"
    src.write_text(json.dumps(NEW_HOOK))
    api.clear_log()
    out = run(["cp", str(src), str(m / wdir())])
    assert out.returncode == 0, out.stderr
    assert sent(api) == [("POST", api_path(), NEW_HOOK)]
    assert writes(api)[0]["status"] == 201
    assert list_gets_after(api, "POST") == []
    assert not os.path.exists(m / wdir() / "hook.json")
    assert "hook.json" not in os.listdir(m / wdir())
    _check_created(m, api, before, NEW_HOOK)


def test_create_with_tee_and_python(api, mount):
    m = mount(api)
    before = {h["id"] for h in api.webhooks(A, P)}
    warm(m)
    body = {"name": "Teed", "url": "https://tee.example.com/", "events": []}
    api.clear_log()
    out = subprocess.run(["tee", str(m / wdir() / "new.json")], input=json.dumps(body),
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert sent(api) == [("POST", api_path(), body)]
    assert not os.path.exists(m / wdir() / "new.json")
    first = _check_created(m, api, before, body)
    assert first["enabled"] is True
    # Python, in chunks; read-only keys are dropped like for webhook.json.
    body2 = {"id": "ignored", "name": "Chunked", "url": "https://chunks.example.com/",
             "events": ["meeting.ended"], "enabled": True}
    api.clear_log()
    data = json.dumps(body2, indent=2)
    assert write(m / wdir() / "x.json", data, flags=os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                 chunks=[5, 7, 1000]) == 0
    del body2["id"]
    assert sent(api) == [("POST", api_path(), body2)]
    _check_created(m, api, before | {first["id"]}, body2)


@pytest.mark.parametrize("doc,fault,expected", [
    ('{"name": "x", "url": "https://x.example.com/"}', None, errno.EINVAL),   # no events
    ("{not json", None, errno.EINVAL),
    ('{"name": "x", "url": "https://x.example.com/", "events": ["bogus"]}', None, errno.EINVAL),
    # issue 10 item 6: a NUL is refused, never POSTed as U+FFFD
    ('{"name": "a\\u0000b", "url": "https://x.example.com/", "events": []}', None,
     errno.EINVAL),
    (json.dumps(NEW_HOOK), 400, errno.EINVAL),
    (json.dumps(NEW_HOOK), 401, errno.EACCES),
    (json.dumps(NEW_HOOK), 500, errno.EIO),
])
def test_create_failure_leaves_nothing(api, mount, doc, fault, expected):
    m = mount(api)
    before = api.webhooks(A, P)
    warm(m)
    if fault:
        api.add_fault("status", status=fault, method="POST")
    api.clear_log()
    assert write(m / wdir() / "hook.json", doc, flags=os.O_WRONLY | os.O_CREAT) == expected
    if fault:
        assert sent(api) == [("POST", api_path(), NEW_HOOK)]
        assert f"injected {fault}" in ctl(m, "status")
    else:
        assert writes(api) == []
    assert api.webhooks(A, P) == before
    assert not os.path.exists(m / wdir() / "hook.json")
    assert sorted(os.listdir(m / wdir())) == sorted(h["id"] for h in before)
    assert json.loads(ctl(m, "stats.json"))["last_write_error"]["message"]
    # cp reports it too.
    src = m.dir / "hook.json"
    src.write_text(doc)
    out = run(["cp", str(src), str(m / wdir())])
    assert out.returncode != 0
    assert not os.path.exists(m / wdir() / "hook.json")


def test_nul_in_a_written_string_is_refused_with_its_reason(api, mount):
    m = mount(api)
    before = api.webhooks(A, P)
    warm(m)
    api.clear_log()
    doc = '{"name": "a\\u0000b", "url": "https://x.example.com/", "events": []}'
    assert write(m / wdir() / "hook.json", doc, flags=os.O_WRONLY | os.O_CREAT) == errno.EINVAL
    assert writes(api) == []
    assert api.webhooks(A, P) == before
    assert "NUL" in json.loads(ctl(m, "stats.json"))["last_write_error"]["message"]
    assert write(m / f"{hdir()}/name", b"a\x00b\n") == errno.EINVAL
    assert "NUL" in json.loads(ctl(m, "stats.json"))["last_write_error"]["message"]
    assert writes(api) == []


def test_create_timeout_after_the_server_created_it(api, mount):
    m = mount(api, options={"timeout": 2, "ttl": 30})
    before = {h["id"] for h in api.webhooks(A, P)}
    warm(m)
    fault = api.add_fault("hang", method="POST", phase="after")
    api.clear_log()
    assert write(m / wdir() / "hook.json", json.dumps(NEW_HOOK),
                 flags=os.O_WRONLY | os.O_CREAT) == errno.ETIMEDOUT
    api.remove_fault(fault)
    assert not os.path.exists(m / wdir() / "hook.json")
    # The server made it: rtkfs asks again and shows it.
    assert len(api.webhooks(A, P)) == len(before) + 1
    assert sorted(os.listdir(m / wdir())) == sorted(h["id"] for h in api.webhooks(A, P))


# --- what the tree refuses ---------------------------------------------------------------

def _errno_of(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


def test_unsupported_operations_are_eperm(api, mount):
    m = mount(api)
    warm(m)
    h = m / hdir()
    api.clear_log()
    ops = {
        "rm field": (os.unlink, h / "name"),
        "rm webhook.json": (os.unlink, h / "webhook.json"),
        "create in webhook dir": (lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT)),
                                  h / "notes"),
        "create in app dir": (lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT)),
                              m / f"accounts/{A}/apps/{P}/notes"),
        "mkdir webhook": (os.mkdir, m / wdir() / "11111111-2222-4333-8444-555555555555"),
        "mkdir in webhook": (os.mkdir, h / "sub"),
        "rename field": (os.rename, h / "name", h / "name2"),
        "rename over field": (os.rename, h / "url", h / "name"),
        "rename webhook": (os.rename, h, m / wdir() / "other"),
        "link": (os.link, h / "name", h / "name2"),
        "symlink": (os.symlink, "name", h / "alias"),
        "chmod": (os.chmod, h / "name", 0o600),
        "chown": (os.chown, h / "name", 1, 1),
        "utimens": (os.utime, h / "name", (0, 0)),
        "truncate by path to a size": (os.truncate, h / "name", 3),
    }
    for what, (fn, *args) in ops.items():
        assert _errno_of(fn, *args) == errno.EPERM, what
    # Truncating to 0 is what O_TRUNC does: allowed, and it changes nothing by itself.
    assert _errno_of(os.truncate, h / "name", 0) == 0
    for argv in (["rm", "-f", str(h / "enabled")], ["mkdir", str(m / wdir() / "new")],
                 ["mv", str(h / "name"), str(h / "x")], ["ln", "-s", "x", str(h / "y")],
                 ["ln", str(h / "name"), str(h / "y")], ["chmod", "600", str(h / "url")],
                 ["chown", "1", str(h / "url")], ["touch", str(h / "url")],
                 ["touch", str(h / "newfile")]):
        out = run(argv)
        assert out.returncode != 0, argv
        assert "Operation not permitted" in out.stderr, (argv, out.stderr)
    assert writes(api) == []
    assert sorted(os.listdir(h)) == sorted(list(FIELDS) + ["webhook.json"])
    shows_what_api_holds(m, api)


def test_sed_i_fails_cleanly(api, mount):
    m = mount(api)
    hook = api.webhook(A, P, W)
    warm(m)
    api.clear_log()
    out = run(["sed", "-i", "s/true/false/", str(m / hdir() / "enabled")])
    assert out.returncode != 0
    assert "Operation not permitted" in out.stderr, out.stderr
    assert writes(api) == []
    assert api.webhook(A, P, W) == hook
    assert sorted(os.listdir(m / hdir())) == sorted(list(FIELDS) + ["webhook.json"])
    shows_what_api_holds(m, api)


def test_editor_patterns(api, mount):
    """vim's default (write a new file, rename it over the target) is refused; with
    `:set backupcopy=yes` vim truncates the file and writes it in place, which works."""
    m = mount(api)
    warm(m)
    h = m / hdir()
    api.clear_log()
    # Default: back the original up by renaming it, or write a swap/new file beside it.
    assert _errno_of(os.rename, h / "url", h / "url~") == errno.EPERM
    assert _errno_of(lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
                     h / ".url.swp") == errno.EPERM
    assert _errno_of(lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
                     h / "4913") == errno.EPERM
    assert writes(api) == []
    # backupcopy=yes: read it, open O_WRONLY|O_TRUNC, write the whole buffer, fsync, close.
    text = cat(m, f"{hdir()}/url").replace("recordings", "recordings-v2")
    fd = os.open(h / "url", os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
        try:
            os.fsync(fd)
        except OSError as e:            # fsync is optional for a FUSE filesystem
            assert e.errno in (errno.ENOSYS, errno.EINVAL), e
    finally:
        os.close(fd)
    assert sent(api) == [("PATCH", api_path(W), {
        "url": "https://hooks.acme-media.example/rtk/recordings-v2"})]
    shows_what_api_holds(m, api)


# --- read-only mount -----------------------------------------------------------------------

def test_ro_mount_refuses_every_write(api, mount):
    m = mount(api, options={"ro": True})
    warm(m)
    h = m / hdir()
    for field in READ_WRITE + ("webhook.json",):
        assert (h / field).read_text() == (
            pretty(api.webhook(A, P, W)) if field == "webhook.json"
            else render(api.webhook(A, P, W)[field]))
        assert (os.stat(h / field).st_mode & 0o222) == 0, field
    api.clear_log()
    create = lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT))  # noqa: E731
    checks = {
        "write name": lambda: write(h / "name", "x\n"),
        "write enabled": lambda: write(h / "enabled", "false\n"),
        "write url": lambda: write(h / "url", "https://x.example.com/\n"),
        "append events": lambda: write(h / "events", "meeting.ended\n",
                                       flags=os.O_WRONLY | os.O_APPEND),
        "write webhook.json": lambda: write(h / "webhook.json", json.dumps(NEW_HOOK)),
        "open rw": lambda: write(h / "name", "", flags=os.O_RDWR),
        "create": lambda: write(m / wdir() / "hook.json", json.dumps(NEW_HOOK),
                                flags=os.O_WRONLY | os.O_CREAT),
        "rmdir": lambda: _errno_of(os.rmdir, h),
        "mkdir": lambda: _errno_of(os.mkdir, m / wdir() / "d"),
        "unlink": lambda: _errno_of(os.unlink, h / "name"),
        "rename": lambda: _errno_of(os.rename, h / "name", h / "n2"),
        "link": lambda: _errno_of(os.link, h / "name", h / "n2"),
        "symlink": lambda: _errno_of(os.symlink, "name", h / "n2"),
        "chmod": lambda: _errno_of(os.chmod, h / "name", 0o600),
        "chown": lambda: _errno_of(os.chown, h / "name", 1, 1),
        "utimens": lambda: _errno_of(os.utime, h / "name", (0, 0)),
        "truncate": lambda: _errno_of(os.truncate, h / "name", 0),
        "create in webhook dir": lambda: _errno_of(create, h / "new"),
    }
    for what, fn in checks.items():
        assert fn() == errno.EROFS, what
    for argv in (["sh", "-c", f"/bin/echo false > '{h}/enabled'"],
                 ["cp", "/dev/null", str(m / wdir() / "x.json")],
                 ["sed", "-i", "s/a/b/", str(h / "name")], ["rmdir", str(h)],
                 ["touch", str(h / "url")]):
        out = run(argv)
        assert out.returncode != 0, argv
        assert "Read-only file system" in out.stderr, (argv, out.stderr)
    assert [r for r in api.requests() if r["method"] != "GET"] == []
    shows_what_api_holds(m, api)


# --- concurrency ---------------------------------------------------------------------------

# A writer in a process of its own: open with O_TRUNC, wait for the others, write, close;
# prints the errno of write() (0 on success). The writers cannot live in this process: a
# thread blocked on the mount while holding the GIL would stall the fake API served from
# this process.
WRITER = r"""
import os, sys, time
path, text, at = sys.argv[1], sys.argv[2], float(sys.argv[3])
fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
time.sleep(max(0.0, at - time.monotonic()))
try:
    os.write(fd, text.encode())
except OSError as e:
    print(e.errno)
    sys.exit(0)
os.close(fd)
print(0)
"""


def writer_text(field, value):
    """What a writer writes: events space-separated ("\n", not "", clears them: an empty
    write is no write), other fields as cat shows them."""
    return " ".join(value) + "\n" if field == "events" else render(value)


def test_concurrent_writers_and_readers(make_api, mount):
    fixture = genfixture.generate(accounts=1, apps=1, webhooks=40, seed=4)
    api = make_api(fixture)
    a = fixture["accounts"][0]["id"]
    p = fixture["accounts"][0]["apps"][0]["id"]
    hooks = {h["id"]: h for h in api.webhooks(a, p)}
    ids = list(hooks)
    m = mount(api, options={"ttl": 1})
    assert sorted(os.listdir(m / wdir(a, p))) == sorted(ids)

    # Writer i changes one field of webhook i; every value a field ever had is recorded, and
    # a file its writer truncated and has not written yet reads empty.
    rng = random.Random(4)
    plan = {}
    held = {w: {f: {render(hooks[w][f])} for f in READ_WRITE} for w in ids}
    for i, w in enumerate(ids[:20]):
        field = READ_WRITE[i % 4]
        if field == "name":
            value = f"renamed {i}"
        elif field == "url":
            value = f"https://writer{i}.example.com/hook"
        elif field == "enabled":
            value = not hooks[w]["enabled"]
        else:
            value = [e for e in rng.sample(genfixture.EVENTS, 4)
                     if e not in hooks[w]["events"]] or []
        assert value != hooks[w][field]
        plan[w] = (field, value)
        held[w][field] |= {render(value), writer_text(field, value), ""}

    stop = threading.Event()
    problems, reads = [], {}

    def note(key):
        reads[key] = reads.get(key, 0) + 1

    def reader(field):
        files = [str(m / f"{hdir(w, a, p)}/{field}") for w in ids]
        while not stop.is_set():
            # Lines do not map to files (events, empty files): a separator after each.
            out = run(["sh", "-c", 'for f; do cat "$f" || exit 1; printf "\\036"; done',
                       "sh"] + files)
            texts = out.stdout.split("\036")[:-1]
            if out.returncode or len(texts) != len(ids):
                problems.append(("cat", field, out.returncode, out.stdout, out.stderr))
                continue
            for w, text in zip(ids, texts):
                if text not in held[w][field]:
                    problems.append((w, field, text))
            note(field)

    def json_reader():
        while not stop.is_set():
            out = run(["cat"] + [str(m / f"{hdir(w, a, p)}/webhook.json") for w in ids])
            try:
                docs = json.loads("[" + out.stdout.replace("}\n{", "},\n{") + "]")
            except ValueError as e:
                problems.append(("webhook.json", out.returncode, repr(e), out.stderr))
                continue
            if out.returncode or len(docs) != len(ids):
                problems.append(("webhook.json", out.returncode, out.stderr))
                continue
            for w, doc in zip(ids, docs):
                for f in READ_WRITE:
                    if doc["id"] != w or render(doc[f]) not in held[w][f]:
                        problems.append((w, "webhook.json", f, doc[f]))
            note("webhook.json")

    readers = [threading.Thread(target=reader, args=(f,)) for f in READ_WRITE]
    readers.append(threading.Thread(target=json_reader))
    for t in readers:
        t.start()
    time.sleep(0.3)
    api.clear_log()
    at = time.monotonic() + 1.0           # every writer writes at this moment
    procs = {}
    for w, (field, value) in plan.items():
        text = writer_text(field, value)
        procs[w] = subprocess.Popen(
            ["/usr/bin/python3", "-c", WRITER, str(m / f"{hdir(w, a, p)}/{field}"), text,
             repr(at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {}
    for w, proc in procs.items():
        out, err = proc.communicate(timeout=30)
        results[w] = out.strip() or err
    time.sleep(1.5)                       # past the TTL: readers see refreshes too
    wait_for(lambda: all(reads.get(k, 0) >= 3 for k in READ_WRITE + ("webhook.json",)),
             timeout=20)
    stop.set()
    for t in readers:
        t.join(30)

    assert results == {w: "0" for w in plan}
    assert problems == []
    assert all(reads.get(k, 0) >= 3 for k in READ_WRITE + ("webhook.json",)), reads
    # Every write landed exactly once, with exactly its field.
    for w, (field, value) in plan.items():
        patches = [r for r in api.requests()
                   if r["method"] == "PATCH" and r["path"] == api_path(w, a, p)]
        assert [(r["body"], r["status"]) for r in patches] == [({field: value}, 200)], w
        assert api.webhook(a, p, w)[field] == value
    assert len(writes(api)) == len(plan)
    # Untouched webhooks are untouched; everything shows what the server holds.
    for w in ids[20:]:
        assert api.webhook(a, p, w) == hooks[w]
    for w in ids:
        hook = api.webhook(a, p, w)
        for f in FIELDS:
            assert cat(m, f"{hdir(w, a, p)}/{f}") == render(hook[f]), (w, f)
