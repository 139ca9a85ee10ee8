# SPDX-License-Identifier: MIT
"""Errors: the errno table of DESIGN §5 as tools see it, deadlines, and mounts that must fail."""
import errno
import os
import socket
import time

import pytest

from conftest import ACCOUNT_TOKEN, TOKEN, Mount, run

A = "023e105f4ecef8ad9ca31a8372d0c353"
B = "9a7806061c88ada191ed06f989cc3dac"
LIST_WEBHOOKS = r"/accounts/[^/]+/realtime/kit/[^/]+/webhooks"


def app_ids(api, account=A):
    return [p["id"] for p in api.apps(account)]


def read_errno(path):
    try:
        with open(path) as f:
            f.read()
    except OSError as e:
        return e.errno
    return 0


def listdir_errno(path):
    try:
        os.listdir(path)
    except OSError as e:
        return e.errno
    return 0


@pytest.mark.parametrize("status,expected", [
    (401, errno.EACCES),
    (403, errno.EACCES),
    (404, errno.ENOENT),
    (400, errno.EINVAL),
    (409, errno.EEXIST),
    (500, errno.EIO),
    (503, errno.EIO),
])
def test_status_becomes_errno(api, mount, status, expected):
    m = mount(api, options={"timeout": 5})
    app = app_ids(api)[1]
    os.listdir(m / f"accounts/{A}/apps/{app}")          # ancestors cached, webhooks cold
    api.add_fault("status", path=LIST_WEBHOOKS, status=status)
    t0 = time.monotonic()
    assert listdir_errno(m / f"accounts/{A}/apps/{app}/webhooks") == expected
    assert time.monotonic() - t0 < 5 + 2
    api.clear_faults()
    # The mount answers normally afterwards (errors are remembered for at most a second).
    other = app_ids(api)[2]
    assert len(os.listdir(m / f"accounts/{A}/apps/{other}/webhooks")) == len(
        api.webhooks(A, other))


def test_5xx_is_retried_for_reads(api, mount):
    m = mount(api)
    app = app_ids(api)[0]
    os.listdir(m / f"accounts/{A}/apps/{app}")
    api.clear_log()
    api.add_fault("status", path=LIST_WEBHOOKS, status=503, count=1)
    assert len(os.listdir(m / f"accounts/{A}/apps/{app}/webhooks")) == len(api.webhooks(A, app))
    assert api.count("GET", LIST_WEBHOOKS) == 2


@pytest.mark.parametrize("kind,params,expected", [
    ("malformed", {}, errno.EPROTO),
    ("wrong_shape", {}, errno.EPROTO),
    ("deep_nesting", {"depth": 100000}, errno.EPROTO),
    ("oversized", {"size": 64 << 20}, errno.EPROTO),
])
def test_bad_bodies_are_eproto(api, mount, kind, params, expected):
    m = mount(api, options={"timeout": 5})
    app = app_ids(api)[3]
    os.listdir(m / f"accounts/{A}/apps/{app}")
    api.add_fault(kind, path=LIST_WEBHOOKS, **params)
    assert listdir_errno(m / f"accounts/{A}/apps/{app}/webhooks") == expected
    api.clear_faults()
    assert run(["cat", f"accounts/{A}/name"], cwd=m.path()).returncode == 0


def test_hung_server_times_out_within_the_deadline(api, mount):
    m = mount(api, options={"timeout": 2})
    app = app_ids(api)[4]
    os.listdir(m / f"accounts/{A}/apps/{app}")
    api.add_fault("hang", path=LIST_WEBHOOKS)
    t0 = time.monotonic()
    assert listdir_errno(m / f"accounts/{A}/apps/{app}/webhooks") == errno.ETIMEDOUT
    elapsed = time.monotonic() - t0
    assert elapsed < 2 + 2, elapsed
    api.clear_faults()
    other = app_ids(api)[5]
    assert len(os.listdir(m / f"accounts/{A}/apps/{other}/webhooks")) == len(
        api.webhooks(A, other))


def test_dripping_server_times_out_within_the_deadline(api, mount):
    m = mount(api, options={"timeout": 2})
    app = app_ids(api)[4]
    os.listdir(m / f"accounts/{A}/apps/{app}")
    api.add_fault("drip", path=LIST_WEBHOOKS, interval_ms=200)
    t0 = time.monotonic()
    assert listdir_errno(m / f"accounts/{A}/apps/{app}/webhooks") == errno.ETIMEDOUT
    assert time.monotonic() - t0 < 2 + 2


def test_unreachable_api_mounts_and_fails_per_operation(tmp_path):
    with socket.socket() as s:                      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m = Mount(None, tmp_path, options={"base_url": f"http://127.0.0.1:{port}", "timeout": 3})
    try:
        m.start()
        assert "cannot check the token" in m.output()
        assert listdir_errno(m / "accounts") == errno.ECONNREFUSED
    finally:
        m.stop()
    assert m.returncode == 0
    m.check_output_clean()


def bad_mount(tmp_path, api, **kw):
    m = Mount(api, tmp_path, **kw)
    m.start(expect_mount=False)
    if m.returncode is None:
        m.stop()
        pytest.fail("rtkfs mounted when it should have refused: " + m.output())
    assert not os.path.ismount(m.mnt)
    m.check_output_clean()
    return m


def test_no_token_refuses_to_mount(api, tmp_path):
    m = bad_mount(tmp_path, api, token=None)
    assert m.returncode == 1
    assert "CLOUDFLARE_API_TOKEN" in m.output()
    assert len(m.output().strip().splitlines()) == 1


def test_rejected_token_refuses_to_mount(api, tmp_path):
    m = bad_mount(tmp_path, api, token="rtk-wrong-token-000")
    assert m.returncode == 1
    assert "rejected the token" in m.output()
    assert "Invalid API Token" in m.output()
    assert len(m.output().strip().splitlines()) == 1


def test_token_file_readable_by_others_is_refused(api, tmp_path):
    tf = tmp_path / "token"
    tf.write_text(TOKEN + "\n")
    tf.chmod(0o644)
    m = bad_mount(tmp_path, api, token=None, options={"token_file": str(tf)})
    assert m.returncode == 1
    assert "chmod 600" in m.output()
    assert TOKEN not in m.output()


def test_token_file_that_is_not_a_file_is_refused(api, tmp_path):
    m = bad_mount(tmp_path, api, token=None, options={"token_file": str(tmp_path)})
    assert m.returncode == 1
    assert "not a regular file" in m.output()


def test_token_file_works(api, mount, tmp_path):
    tf = tmp_path / "token"
    tf.write_text(TOKEN + "\n")
    tf.chmod(0o600)
    m = mount(api, token=None, options={"token_file": str(tf)})
    assert sorted(os.listdir(m / "accounts")) == sorted([A, B])
    assert api.requests()[0]["authorization"]


def test_account_owned_token_verifies_under_its_account(api, mount):
    m = mount(api, token=ACCOUNT_TOKEN, options={"account": A})
    assert os.listdir(m / "accounts") == [A]
    assert api.count("GET", r"/accounts/%s/tokens/verify" % A) == 1


def test_plain_http_to_other_hosts_is_refused(tmp_path):
    m = bad_mount(tmp_path, None, options={"base_url": "http://api.example.com/client/v4"})
    assert m.returncode == 1
    assert "https" in m.output()


def test_bad_options_are_refused(api, tmp_path):
    for opts in ({"ttl": "abc"}, {"rate": "fast"}, {"account": "../etc"}, {"ttl": 0}):
        m = bad_mount(tmp_path / str(len(str(opts))), api, options=opts)
        assert m.returncode != 0, opts


def test_token_never_in_argv_or_debug_output(api, mount):
    m = mount(api, args=["-d"])
    os.listdir(m / f"accounts/{A}/apps")
    with open(f"/proc/{m.proc.pid}/cmdline", "rb") as f:
        assert TOKEN.encode() not in f.read()
    with open(f"/proc/{m.proc.pid}/environ", "rb") as f:
        assert TOKEN.encode() not in f.read()
    assert TOKEN not in m.output()
