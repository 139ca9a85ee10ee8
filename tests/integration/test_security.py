# SPDX-License-Identifier: MIT
"""Security (issue 3): where the token may never be, where it may never go, what the mount
refuses, and who may use the mount."""
import errno
import json
import os
import shutil
import ssl
import stat
import sys
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import TOKEN, Mount, run

A = "023e105f4ecef8ad9ca31a8372d0c353"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
LIST_ACCOUNTS = r"^/accounts$"


def app_ids(api):
    return [a["id"] for a in api.apps(A)]


def read(path):
    with open(path) as f:
        return f.read()


def refused(tmp_path, api, name, **kw):
    """Start rtkfs expecting it to refuse to mount within a few seconds."""
    m = Mount(api, tmp_path / name, **kw)
    t0 = time.monotonic()
    m.start(expect_mount=False, timeout=10)
    if m.returncode is None:
        m.stop()
        pytest.fail("rtkfs mounted when it should have refused: " + m.output())
    assert time.monotonic() - t0 < 5
    assert m.returncode != 0
    assert not os.path.ismount(m.mnt)
    m.check_output_clean()
    return m


# ---- the token stays secret ----

def echo_token_body(status):
    """An error whose message repeats the token, as a careless or hostile server might."""
    return json.dumps({"success": False,
                       "error": {"code": status, "message": f"token {TOKEN} is not allowed"}})


@pytest.mark.parametrize("debug", [False, True])
def test_token_never_shows(api, mount, debug):
    m = mount(api, args=["-d"] if debug else [])
    apps = app_ids(api)
    os.listdir(m / f"accounts/{A}/apps")
    # Failures of every kind, one of them with the token in the server's own message.
    # The last one echoes the token, so that it is the "last error" of the control files.
    api.add_fault("malformed", path=rf"/{apps[0]}/webhooks$")
    api.add_fault("status", path=rf"/{apps[1]}/webhooks$", status=401)
    api.add_fault("status", path=rf"/{apps[2]}/webhooks$", status=503, body=echo_token_body(503))
    api.add_fault("status", path=rf"/{apps[3]}/webhooks$", status=400, body=echo_token_body(400))
    outputs = []
    for app in apps[:4]:
        p = run(["ls", str(m / f"accounts/{A}/apps/{app}/webhooks")])
        assert p.returncode != 0
        outputs.append(p.stdout + p.stderr)
    status = read(m / ".rtkfs/status")
    stats = read(m / ".rtkfs/stats.json")
    json.loads(stats)
    assert api.count("GET", r".*/webhooks") >= 4
    pid = m.proc.pid
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read()
    with open(f"/proc/{pid}/environ", "rb") as f:
        environ = f.read()
    m.stop()
    where = {"cmdline": cmdline.decode(errors="replace"),
             "environ": environ.decode(errors="replace"),
             "daemon output": m.output(), "tool messages": "\n".join(outputs),
             ".rtkfs/status": status, ".rtkfs/stats.json": stats}
    leaks = [k for k, v in where.items() if TOKEN in v]
    assert not leaks, f"the token appeared in: {leaks}"
    # The server's message itself is kept (redacted), so the failure can be understood.
    assert "is not allowed" in status
    if debug:
        assert "GET /accounts" in m.output()      # -d really logged requests


def test_token_never_shows_after_a_failed_write(api, mount):
    """The server's message of a refused write (kept as "last write error") is redacted too."""
    m = mount(api)
    app = app_ids(api)[0]
    hook = api.webhooks(A, app)[0]
    api.add_fault("status", method="PATCH", path=rf"/{hook['id']}$", status=400,
                  body=echo_token_body(400))
    url = m / f"accounts/{A}/apps/{app}/webhooks/{hook['id']}/url"
    # write() reports the error (one write: a buffered file retries its flush at close).
    p = run([sys.executable, "-c", "import os, sys\nfd = os.open(sys.argv[1], os.O_WRONLY)\n"
             "os.write(fd, b'https://changed.example.com/\\n')", str(url)])
    assert p.returncode != 0
    assert api.count("PATCH") == 1
    status, stats = read(m / ".rtkfs/status"), read(m / ".rtkfs/stats.json")
    m.stop()
    leaks = [k for k, v in {"tool": p.stderr, "daemon output": m.output(),
                            ".rtkfs/status": status, ".rtkfs/stats.json": stats}.items()
             if TOKEN in v]
    assert not leaks, f"the token appeared in: {leaks}"


def test_rejected_token_is_not_echoed(api, tmp_path):
    wrong = "rtk-wrong-token-8f8f8f8f8f"
    m = refused(tmp_path, api, "wrong", token=wrong, args=["-d"])
    assert wrong not in m.output()
    assert "rejected the token" in m.output()


def test_redirect_to_another_host_is_not_followed(api, mount, sink):
    m = mount(api)
    api.add_fault("redirect", path=LIST_ACCOUNTS, location=f"{sink.url}/accounts")
    p = run(["ls", str(m / "accounts")])
    assert p.returncode == 2
    assert os.strerror(errno.EPROTO) in p.stderr
    assert api.count("GET", "/accounts") >= 1
    assert [r for r in sink.requests() if r["authorization"]] == []
    assert sink.requests() == []          # not followed at all
    assert "redirect" in read(m / ".rtkfs/status")


# ---- token_file ----

@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620])
def test_token_file_readable_by_group_or_others_is_refused(api, tmp_path, mode):
    tf = tmp_path / "token"
    tf.write_text(TOKEN + "\n")
    tf.chmod(mode)
    m = refused(tmp_path, api, "m", token=None, options={"token_file": str(tf)})
    assert "chmod 600" in m.output()
    assert api.count() == 0


def make_fifo(p):
    os.mkfifo(p, 0o600)


def make_symlink(p):
    target = p.parent / "real-token"
    target.write_text(TOKEN + "\n")
    target.chmod(0o600)
    p.symlink_to(target)


def make_dir(p):
    p.mkdir(mode=0o700)


@pytest.mark.parametrize("make", [make_fifo, make_symlink, make_dir],
                         ids=["fifo", "symlink", "directory"])
def test_token_file_that_is_not_a_regular_file_is_refused(api, tmp_path, make):
    tf = tmp_path / "token"
    make(tf)
    # A fifo with no writer must not block the mount: refused() allows 5 s.
    m = refused(tmp_path, api, "m", token=None, options={"token_file": str(tf)})
    assert "token_file" in m.output()
    assert TOKEN not in m.output()
    assert api.count() == 0


def test_token_file_device_is_refused(api, tmp_path):
    m = refused(tmp_path, api, "m", token=None, options={"token_file": "/dev/zero"})
    assert "not a regular file" in m.output()


# ---- transport ----

@pytest.mark.parametrize("url", [
    "http://api.cloudflare.com/client/v4",
    "http://10.0.0.1:8080",
    "http://[::2]:8080",
    "http://localhost.example.com",
    "http://127.0.0.1@evil.example.com",
    "ftp://127.0.0.1/",
])
def test_plain_http_is_refused_for_other_hosts(tmp_path, url):
    m = refused(tmp_path, None, "m", options={"base_url": url})
    assert url.split("@")[-1] not in m.output() or "https" in m.output()


@pytest.mark.parametrize("opt", ["insecure", "no_verify", "ssl_no_verify", "insecure=1",
                                 "verify=0", "ssl_verify=0", "tls_verify=false", "k"])
def test_tls_verification_cannot_be_turned_off(api, tmp_path, opt):
    m = refused(tmp_path, api, opt.replace("=", "_"), options={opt: True})
    assert "unknown option" in m.output() or "invalid" in m.output().lower(), m.output()


@pytest.fixture
def tls_api(make_api, tmp_path):
    """The fake API behind TLS with a self-signed certificate for 127.0.0.1."""
    if not shutil.which("openssl"):
        pytest.skip("SKIPPED LOUDLY: no openssl to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    api = make_api()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = api._server
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    api.url = api.url.replace("http://", "https://")
    return api, cert


def test_tls_is_verified(tls_api, mount, tmp_path):
    api, cert = tls_api
    m = mount(api, options={"timeout": 5})      # an untrusted certificate: mount, but...
    assert "cannot check the token" in m.output()
    p = run(["ls", str(m / "accounts")])
    assert p.returncode == 2
    assert os.strerror(errno.EPROTO) in p.stderr, p.stderr
    assert api.count() == 0                    # no request ever got past the handshake
    m2 = mount(api, options={"cacert": str(cert)})      # ...trusted with -o cacert
    assert sorted(os.listdir(m2 / "accounts")) == sorted(a["id"] for a in api.accounts())
    assert api.count("GET", "/accounts") >= 1


# ---- who may use the mount ----

@pytest.fixture
def open_dir():
    """A work dir every user can traverse (pytest's own tmp dirs are 0700)."""
    d = Path(tempfile.mkdtemp(prefix="rtkfs-sec-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def mountinfo_options(mnt):
    for line in read("/proc/self/mountinfo").splitlines():
        f = line.split()
        if f[4] == str(mnt):
            sep = f.index("-")
            return set(f[5].split(",")) | set(f[sep + 3].split(","))
    raise AssertionError(f"{mnt} not in /proc/self/mountinfo")


def as_nobody(argv):
    return run(NOBODY + argv)


def setpriv_works():
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


@pytest.fixture
def nobody():
    if not setpriv_works():
        pytest.skip("SKIPPED LOUDLY: needs root and setpriv to act as another user")


def start(api, workdir, **kw):
    workdir.mkdir(mode=0o755)
    m = Mount(api, workdir, **kw)
    m.mnt.chmod(0o755)
    return m.start()


def stop_clean(m):
    m.stop()
    assert m.returncode == 0, m.output()
    m.check_output_clean()


def test_mount_is_private_unless_allow_other(api, open_dir, nobody):
    m = start(api, open_dir / "private")
    try:
        opts = mountinfo_options(m.mnt)
        assert "default_permissions" in opts, opts
        assert "allow_other" not in opts, opts
        p = as_nobody(["ls", str(m.mnt)])
        assert p.returncode == 2
        assert os.strerror(errno.EACCES) in p.stderr, p.stderr
        p = as_nobody(["cat", str(m / f"accounts/{A}/name")])
        assert p.returncode == 1 and os.strerror(errno.EACCES) in p.stderr
        assert os.listdir(m.mnt) == ["accounts"]          # the owner may
    finally:
        stop_clean(m)

    # The same path with allow_other: nobody may read, so the refusal above was the mount's.
    m = start(api, open_dir / "shared", args=["-o", "allow_other"])
    try:
        opts = mountinfo_options(m.mnt)
        assert "allow_other" in opts and "default_permissions" in opts, opts
        p = as_nobody(["ls", str(m.mnt)])
        assert p.returncode == 0 and p.stdout.split() == ["accounts"], p.stderr
    finally:
        stop_clean(m)


def test_permissions_are_enforced(api, open_dir, nobody):
    app = app_ids(api)[0]
    hook = api.webhooks(A, app)[0]
    wd = f"accounts/{A}/apps/{app}/webhooks/{hook['id']}"
    m = start(api, open_dir / "perm", args=["-o", "allow_other"])
    try:
        modes = {name: stat.S_IMODE(os.stat(m / f"{wd}/{name}").st_mode)
                 for name in ("id", "created_at", "updated_at", "url", "name", "enabled")}
        assert modes == {"id": 0o444, "created_at": 0o444, "updated_at": 0o444,
                         "url": 0o644, "name": 0o644, "enabled": 0o644}, modes
        assert stat.S_IMODE(os.stat(m / wd).st_mode) == 0o755
        assert os.stat(m / wd).st_uid == os.getuid()
        # Another user reads, but may not write, even a read-write field.
        p = as_nobody(["cat", str(m / f"{wd}/url")])
        assert p.returncode == 0 and p.stdout == hook["url"] + "\n"
        api.clear_log()
        for name in ("url", "id", "enabled"):
            p = as_nobody(["sh", "-c", f"echo false > '{m / wd}/{name}'"])
            assert p.returncode != 0, name
            assert os.strerror(errno.EACCES) in p.stderr, p.stderr
        p = as_nobody(["rmdir", str(m / wd)])
        assert p.returncode != 0 and os.strerror(errno.EACCES) in p.stderr, p.stderr
        assert api.count("PATCH") == api.count("DELETE") == api.count("PUT") == 0
        assert api.webhook(A, app, hook["id"]) == hook
    finally:
        stop_clean(m)


# ---- one rtkfs per mount point ----

def test_stacked_mount_is_refused(api, mount, tmp_path):
    """A second rtkfs on a live rtkfs mount point refuses with one line, sends nothing, and
    leaves the first mount working."""
    first = mount(api)
    before = api.count("GET", r".*")
    second = Mount(api, tmp_path / "second")
    second.mnt = first.mnt
    r = subprocess.run(second.argv(), env=second.env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 1, r.stderr
    mnt = str(first.mnt)
    assert r.stderr == (f"rtkfs: '{mnt}' is already an rtkfs mount; unmount it first "
                        f"(fusermount3 -u '{mnt}')\n"), r.stderr
    assert TOKEN not in r.stdout + r.stderr
    assert api.count("GET", r".*") == before
    stacked = [l for l in read("/proc/self/mountinfo").splitlines()
               if f" {mnt} " in l and " - fuse.rtkfs " in l]
    assert len(stacked) == 1, stacked
    assert A in os.listdir(first / "accounts")
