# SPDX-License-Identifier: MIT
"""Many mounts, one account, through Redis (DESIGN §6a; issue 13).

Each test starts its own redis-server (no persistence) on a free port or a unix socket and
stops it. Two or three mounts of the same fake API share the listing cache, the rate budget
and invalidations; Redis failing never fails an operation. Without redis-server the tests
are skipped loudly.
"""
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import TOKEN, run, wait_for

A = "023e105f4ecef8ad9ca31a8372d0c353"
B_ACCOUNT = "9a7806061c88ada191ed06f989cc3dac"
BETA_TOKEN = "rtk-beta-only-token-3f2a1b"
REDIS = shutil.which("redis-server")

pytestmark = pytest.mark.skipif(REDIS is None,
                                reason="SKIPPED LOUDLY: redis-server is not installed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read_reply(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    raise RuntimeError(f"bad reply {line!r}")


class Redis:
    """A redis-server of our own, and a minimal client of it."""

    def __init__(self, workdir, password=None, unix=False):
        self.dir = workdir
        self.password = password
        self.unix = str(workdir / "redis.sock") if unix else None
        self.port = 0 if unix else free_port()
        self.proc = None

    @property
    def url(self):
        return f"unix:{self.unix}" if self.unix else f"redis://127.0.0.1:{self.port}"

    def start(self):
        argv = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir)]
        if self.unix:
            argv += ["--unixsocket", self.unix, "--unixsocketperm", "700"]
        if self.password:
            argv += ["--requirepass", self.password]
        self.log = open(self.dir / "redis.log", "a")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                if self.cmd("PING") == "PONG":
                    return self
            except (OSError, RuntimeError):
                pass
            assert self.proc.poll() is None, "redis-server exited"
            time.sleep(0.02)
        raise AssertionError("redis-server did not answer")

    def connect(self):
        if self.unix:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(2)
            s.connect(self.unix)
        else:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        return s

    def cmd(self, *args):
        with self.connect() as s, s.makefile("rb") as f:
            if self.password:
                s.sendall(encode(["AUTH", self.password]))
                read_reply(f)
            s.sendall(encode(args))
            return read_reply(f)

    def keys(self):
        return sorted(k.decode() for k in self.cmd("KEYS", "*"))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


@pytest.fixture
def make_redis(tmp_path):
    started = []

    def make(**kw):
        d = tmp_path / f"redis{len(started)}"
        d.mkdir()
        r = Redis(d, **kw)
        started.append(r)
        return r.start()

    yield make
    for r in started:
        r.stop()


@pytest.fixture
def redis(make_redis):
    return make_redis()


def stats(m):
    with open(m / ".rtkfs/stats.json") as f:
        return json.load(f)


def status(m):
    return (m / ".rtkfs/status").read_text()


def api_requests(api):
    """What the API saw, leaving out the token checks every mount makes once."""
    return [e for e in api.requests() if not e["path"].endswith("/verify")]


def grep_all(m):
    p = run(["grep", "-r", "", "accounts"], cwd=m.mnt, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def shared_mount(mount, api, redis, **opts):
    options = {"shared": redis.url, "ttl": 30, "timeout": 5}
    options.update(opts)
    return mount(api, options=options)


def test_second_mount_is_served_from_redis(api, mount, redis):
    a = shared_mount(mount, api, redis)
    b = shared_mount(mount, api, redis)
    out_a = grep_all(a)
    seen_by_a = len(api_requests(api))
    assert seen_by_a > 0
    api.clear_log()
    out_b = grep_all(b)
    assert api_requests(api) == [], "mount B asked the API what A had fetched"
    assert out_b == out_a
    sb = stats(b)["shared"]
    assert sb["connected"] is True
    # One value per listing (a listing of apps takes several pages).
    assert sb["hits"] == stats(a)["shared"]["stores"] > 0 and sb["bad_values"] == 0
    assert "(connected)" in status(b)


def test_one_rate_window_for_all_mounts(api, mount, redis):
    opts = {"rate": "30/300", "ttl": 1, "timeout": 2, "stale": 0}
    mounts = [shared_mount(mount, api, redis, **opts) for _ in range(3)]
    apps = [x["id"] for x in api.apps(A)]

    def hammer(m):
        end = time.monotonic() + 4
        while time.monotonic() < end:
            (m / ".rtkfs/ctl").write_text("flush\n")
            for app in apps:
                try:
                    os.listdir(m / f"accounts/{A}/apps/{app}/webhooks")
                except OSError as e:
                    assert e.errno in (errno.EAGAIN, errno.ETIMEDOUT), e

    threads = [threading.Thread(target=hammer, args=(m,)) for m in mounts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = api.requests()
    assert len(sent) <= 30, f"{len(sent)} requests in one 300 s window, all mounts together"
    # The budget did hold requests back (the demand was over the limit).
    held = sum(stats(m)["rate_budget"]["refused"] + stats(m)["rate_budget"]["waited"]
               for m in mounts)
    assert held > 0
    assert len(sent) >= 20


def test_a_write_shows_on_the_other_mount_within_a_second(api, mount, redis):
    a = shared_mount(mount, api, redis)
    b = shared_mount(mount, api, redis)
    app = api.apps(A)[0]["id"]
    hook = next(h for h in api.webhooks(A, app) if h["enabled"])
    rel = f"accounts/{A}/apps/{app}/webhooks/{hook['id']}/enabled"
    assert (b / rel).read_text() == "true\n"
    assert (a / rel).read_text() == "true\n"
    p = run(f"echo false > {rel}", cwd=a.mnt)
    assert p.returncode == 0, p.stderr
    t0 = time.monotonic()
    assert wait_for(lambda: (b / rel).read_text() == "false\n", 1.0), \
        "mount B still shows the old value a second after the write on A"
    assert time.monotonic() - t0 <= 1.0
    assert stats(a)["shared"]["invalidations"] >= 1


def test_tokens_never_share_a_listing(api, mount, redis):
    a = shared_mount(mount, api, redis)
    b = mount(api, options={"shared": redis.url, "ttl": 30}, token=BETA_TOKEN)
    assert sorted(os.listdir(a / "accounts")) == sorted([A, B_ACCOUNT])
    assert os.listdir(b / "accounts") == [B_ACCOUNT]
    # A's apps of the shared account are not B's to take either: B asks the API itself.
    api.clear_log()
    assert sorted(os.listdir(b / f"accounts/{B_ACCOUNT}/apps")) == \
        sorted(x["id"] for x in api.apps(B_ACCOUNT))
    assert api.count("GET", "/accounts") == 0  # B's own listing of accounts was cached
    keys = redis.keys()
    assert keys
    for k in keys:
        assert TOKEN not in k and BETA_TOKEN not in k
        assert re.match(r"rtkfs:1:[0-9a-f]{32}:", k), k
    spaces = {k.split(":")[2] for k in keys}
    assert len(spaces) == 2, spaces
    assert stats(b)["shared"]["hits"] == 0


def test_redis_going_away_fails_nothing_and_sharing_resumes(api, mount, redis):
    a = shared_mount(mount, api, redis, ttl=1, timeout=5)
    b = shared_mount(mount, api, redis, ttl=30, timeout=5)
    apps = [x["id"] for x in api.apps(A)]
    grep_all(a)
    redis.kill()
    end = time.monotonic() + 3
    while time.monotonic() < end:  # ttl=1: refreshes keep going to the API, alone
        for app in apps:
            t0 = time.monotonic()
            names = os.listdir(a / f"accounts/{A}/apps/{app}/webhooks")
            assert len(names) == len(api.webhooks(A, app))
            assert time.monotonic() - t0 < 2, "an operation waited on the dead Redis"
    assert wait_for(lambda: "unreachable since" in status(a), 5)
    assert stats(a)["shared"]["connected"] is False
    redis.start()
    assert wait_for(lambda: "(connected)" in status(a), 40, step=0.2), status(a)
    # Sharing resumes: what A fetches now, B reads from Redis.
    assert wait_for(lambda: grep_all(a) and any(k.endswith("/webhooks") for k in redis.keys()),
                10, step=0.2)
    hits = stats(b)["shared"]["hits"]
    api.clear_log()
    app = apps[-1]
    os.listdir(b / f"accounts/{A}/apps/{app}/webhooks")
    assert stats(b)["shared"]["hits"] > hits or api_requests(api) == []


def test_a_corrupt_value_is_ignored_and_refetched(api, mount, redis):
    a = shared_mount(mount, api, redis)
    out_a = grep_all(a)
    keys = [k for k in redis.keys() if k.endswith("/webhooks")]
    assert len(keys) >= 2
    planted = {
        keys[0]: b"RTKFS-LISTING 1 webhooks 1\n5\nxxxxx",        # not the API's JSON
        keys[1]: b"RTKFS-LISTING 1 apps 1\n2\n{}",               # another kind
    }
    for k, v in planted.items():
        redis.cmd("SET", k, v)
    b = shared_mount(mount, api, redis)
    api.clear_log()
    assert grep_all(b) == out_a
    assert len(api_requests(api)) == len(planted)
    assert stats(b)["shared"]["bad_values"] == len(planted)
    for k in planted:
        v = redis.cmd("GET", k)
        assert v.startswith(b"RTKFS-LISTING 1 webhooks 1\n") and v not in planted.values()


def test_password_file(api, mount, make_redis, tmp_path):
    secret = "s3cret-redis-pass"
    r = make_redis(password=secret)
    pw = tmp_path / "pw"
    pw.write_text(secret + "\n")
    pw.chmod(0o600)
    a = mount(api, options={"shared": r.url, "shared_password_file": str(pw)})
    assert os.listdir(a / "accounts")
    assert "(connected)" in status(a)
    assert any(k.endswith("/accounts") for k in r.keys())
    # A wrong password: the mount works alone and says why.
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    bad.chmod(0o600)
    b = mount(api, options={"shared": r.url, "shared_password_file": str(bad)})
    assert sorted(os.listdir(b / "accounts")) == sorted([A, B_ACCOUNT])
    st = status(b)
    assert "unreachable since" in st and "AUTH refused" in st, st
    for m in (a, b):
        assert secret not in status(m) and secret not in m.output()
    # A file others can read is refused before anything is mounted.
    pw.chmod(0o644)
    c = mount(api, options={"shared": r.url, "shared_password_file": str(pw)},
              expect_mount=False)
    assert c.returncode == 1 and "can be read by others" in c.output()


def test_unix_socket(api, mount, make_redis):
    r = make_redis(unix=True)
    a = mount(api, options={"shared": r.url, "ttl": 30})
    b = mount(api, options={"shared": r.url, "ttl": 30})
    out_a = grep_all(a)
    api.clear_log()
    assert grep_all(b) == out_a
    assert api_requests(api) == []
    assert f"shared:       unix:{r.unix} (connected)" in status(b)


def test_a_bad_url_is_refused_without_echoing_it(api, mount):
    m = mount(api, options={"shared": "redis://:hunter2@"}, expect_mount=False)
    assert m.returncode == 1
    assert "shared= is not" in m.output() and "hunter2" not in m.output()


def test_one_fetch_for_two_mounts_at_once(make_api, mount, redis):
    api = make_api(latency_ms=400)
    a = shared_mount(mount, api, redis)
    b = shared_mount(mount, api, redis)
    app = api.apps(A)[0]["id"]
    rel = f"accounts/{A}/apps/{app}/webhooks"
    os.listdir(a / f"accounts/{A}/apps")
    os.listdir(b / f"accounts/{A}/apps")
    api.clear_log()
    out = {}
    threads = [threading.Thread(target=lambda m=m: out.__setitem__(m, sorted(os.listdir(m / rel))))
               for m in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out[a] == out[b] == sorted(h["id"] for h in api.webhooks(A, app))
    assert api.count("GET", rf"/accounts/{A}/realtime/kit/{app}/webhooks") == 1
    assert stats(a)["shared"]["waits"] + stats(b)["shared"]["waits"] == 1


def test_a_dead_fetchers_lock_is_taken_over(api, mount, redis):
    a = shared_mount(mount, api, redis, timeout=2)
    os.listdir(a / f"accounts/{A}/apps")
    app = api.apps(A)[0]["id"]
    ns = next(k for k in redis.keys() if k.endswith("/apps")).split(":")[2]
    lock = f"rtkfs:1:{ns}:L:/accounts/{A}/realtime/kit/{app}/webhooks:lock"
    redis.cmd("SET", lock, "a-mount-that-died", "PX", 60000)
    names = os.listdir(a / f"accounts/{A}/apps/{app}/webhooks")
    assert sorted(names) == sorted(h["id"] for h in api.webhooks(A, app))
    sa = stats(a)["shared"]
    assert sa["waits"] == 1 and sa["takeovers"] == 1
    assert redis.cmd("GET", lock) == b"a-mount-that-died"  # not ours to release


def test_a_stalled_redis_fails_nothing(api, mount, redis):
    a = shared_mount(mount, api, redis, ttl=1, timeout=5)
    apps = [x["id"] for x in api.apps(A)]
    grep_all(a)
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        end = time.monotonic() + 3
        while time.monotonic() < end:
            for app in apps:
                t0 = time.monotonic()
                names = os.listdir(a / f"accounts/{A}/apps/{app}/webhooks")
                assert len(names) == len(api.webhooks(A, app))
                assert time.monotonic() - t0 < 2, "an operation waited on the stalled Redis"
        assert "unreachable since" in status(a)
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    assert wait_for(lambda: "(connected)" in status(a), 40, step=0.2), status(a)


def test_a_429_on_one_mount_pauses_the_others(api, mount, redis):
    a = shared_mount(mount, api, redis, timeout=2)
    b = shared_mount(mount, api, redis, timeout=2)
    os.listdir(a / f"accounts/{A}/apps")
    os.listdir(b / f"accounts/{A}/apps")
    app_a, app_b = [x["id"] for x in api.apps(A)][:2]
    api.add_fault("status", path=rf"/{app_a}/webhooks$", status=429, retry_after=4, count=1)
    api.clear_log()
    with pytest.raises(OSError):
        os.listdir(a / f"accounts/{A}/apps/{app_a}/webhooks")
    hit = [e for e in api.requests() if e["status"] == 429]
    assert len(hit) == 1
    assert 0 < redis.cmd("PTTL", next(k for k in redis.keys() if k.endswith(":pause")))
    # B never met the 429, yet sends nothing while the pause runs.
    with pytest.raises(OSError) as e:
        os.listdir(b / f"accounts/{A}/apps/{app_b}/webhooks")
    assert e.value.errno == errno.EAGAIN
    assert len(api.requests()) == 1
    assert wait_for(lambda: not any(k.endswith(":pause") for k in redis.keys()), 6, step=0.1)
    assert os.listdir(b / f"accounts/{A}/apps/{app_b}/webhooks")
