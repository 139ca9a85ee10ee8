"""Self-tests of the fake API, over real HTTP.

    /usr/bin/python3 -m pytest tests/fakeapi -q
"""

import http.client
import json
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fakeapi import EVENTS, FakeAPI, Sink, parse_time  # noqa: E402
import genfixture  # noqa: E402

DEMO = HERE.parent / "fixtures" / "demo.json"
USER = "rtk-demo-token-5b1e2c9a7d"
ACCT = "rtk-acct-token-0c4d8e6f1a"
BETA_ONLY = "rtk-beta-only-token-3f2a1b"
ACME = "023e105f4ecef8ad9ca31a8372d0c353"
BETA = "9a7806061c88ada191ed06f989cc3dac"
MISSING_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def api():
    with FakeAPI(DEMO) as fake:
        yield fake


def call(api, method, path, body=None, token=USER, headers=None, raw=None, timeout=5):
    """(status, headers, parsed JSON or raw bytes) of one request."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(api.url + path, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, hdrs, payload = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, hdrs, payload = e.code, e.headers, e.read()
    try:
        return status, hdrs, json.loads(payload)
    except (ValueError, RecursionError):
        return status, hdrs, payload


def raw_get(api, path, token=USER, timeout=5):
    """An http.client connection with a GET sent, for low-level fault tests."""
    conn = http.client.HTTPConnection(api.host, api.port, timeout=timeout)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    return conn


def first_app(api, account=ACME):
    return api.apps(account)[0]["id"]


def hooks_path(api, account=ACME, app=None):
    return f"/accounts/{account}/realtime/kit/{app or first_app(api, account)}/webhooks"


def new_hook(**over):
    body = {"name": "new hook", "url": "https://example.com/h", "events": ["meeting.started"]}
    body.update(over)
    return body


# --- tokens -----------------------------------------------------------------------

def test_user_verify(api):
    status, hdrs, body = call(api, "GET", "/user/tokens/verify")
    assert status == 200
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    assert body["result"]["status"] == "active"
    assert len(body["result"]["id"]) == 32


@pytest.mark.parametrize("token, message", [
    (None, "Invalid API Token"),
    ("no-such-token", "Invalid API Token"),
    (ACCT, "Invalid API Token"),
    ("rtk-disabled-token-8e7d6c", "disabled"),
    ("rtk-expired-token-4b3a29", "expired"),
])
def test_user_verify_rejects(api, token, message):
    status, _, body = call(api, "GET", "/user/tokens/verify", token=token)
    assert status == 401
    assert body["success"] is False and body["result"] is None
    assert body["errors"][0]["code"] == 1000
    assert message in body["errors"][0]["message"]


def test_account_verify(api):
    assert call(api, "GET", f"/accounts/{ACME}/tokens/verify", token=ACCT)[0] == 200
    assert call(api, "GET", f"/accounts/{BETA}/tokens/verify", token=ACCT)[0] == 401
    assert call(api, "GET", f"/accounts/{ACME}/tokens/verify", token=USER)[0] == 401


def test_client_v4_prefix(api):
    assert call(api, "GET", "/client/v4/user/tokens/verify")[0] == 200
    assert api.requests()[-1]["path"] == "/user/tokens/verify"


@pytest.mark.parametrize("token", [None, "nope", "rtk-disabled-token-8e7d6c"])
def test_api_requires_active_token(api, token):
    status, _, body = call(api, "GET", "/accounts", token=token)
    assert status == 401 and body["success"] is False


# --- accounts ----------------------------------------------------------------------

def test_accounts_listing(api):
    status, _, body = call(api, "GET", "/accounts")
    assert status == 200 and body["success"] is True
    assert [a["name"] for a in body["result"]] == ["Acme Media", "Beta Labs"]
    assert all("apps" not in a and len(a["id"]) == 32 for a in body["result"])
    assert body["result"][0]["settings"] == {"enforce_twofactor": False}
    assert body["result_info"] == {"page": 1, "per_page": 20, "count": 2,
                                   "total_count": 2, "total_pages": 1}


def test_accounts_pages_and_clamping(api):
    _, _, body = call(api, "GET", "/accounts?per_page=1&page=1")
    assert body["result_info"]["per_page"] == 5
    _, _, body = call(api, "GET", "/accounts?page=2")
    assert body["result"] == [] and body["result_info"]["count"] == 0
    api.set_settings(accounts_max_per_page=1)
    _, _, body = call(api, "GET", "/accounts?page=2")
    assert [a["id"] for a in body["result"]] == [BETA]
    assert body["result_info"]["total_pages"] == 2
    assert call(api, "GET", "/accounts?page=zero")[0] == 400


def test_accounts_per_token(api):
    assert [a["id"] for a in call(api, "GET", "/accounts", token=ACCT)[2]["result"]] == [ACME]
    assert [a["id"] for a in call(api, "GET", "/accounts", token=BETA_ONLY)[2]["result"]] == [BETA]


# --- apps --------------------------------------------------------------------------

def test_apps_pages(api):
    seen, offsets = [], []
    for page in (1, 2, 3):
        status, _, body = call(api, "GET", f"/accounts/{ACME}/realtime/kit/apps?page_no={page}")
        assert status == 200 and body["success"] is True
        seen += body["data"]
        offsets.append(body["paging"])
    assert [p["start_offset"] for p in offsets] == [1, 4, 7]
    assert [p["end_offset"] for p in offsets] == [3, 6, 7]
    assert {p["total_count"] for p in offsets} == {7}
    created = [a["created_at"] for a in seen]
    assert created == sorted(created, reverse=True)
    assert sorted(a["id"] for a in seen) == sorted(a["id"] for a in api.apps(ACME))
    assert set(seen[0]) == {"id", "name", "created_at"}

    _, _, body = call(api, "GET", f"/accounts/{ACME}/realtime/kit/apps?page_no=4")
    assert body["data"] == []
    assert body["paging"] == {"start_offset": 7, "end_offset": 7, "total_count": 7}

    _, _, body = call(api, "GET", f"/accounts/{ACME}/realtime/kit/apps?sort_order=ASC&per_page=2")
    assert len(body["data"]) == 2 and body["data"][0]["created_at"] == min(created)


def test_apps_bad_query(api):
    for query in ("page_no=0", "per_page=x", "sort_order=UP"):
        status, _, body = call(api, "GET", f"/accounts/{ACME}/realtime/kit/apps?{query}")
        assert status == 400 and body["success"] is False and body["error"]["code"] == 400


def test_create_app(api):
    path = f"/accounts/{BETA}/realtime/kit/apps"
    status, _, body = call(api, "POST", path, {"name": "brand new"})
    assert status == 200 and body["success"] is True
    app = body["data"]["app"]
    assert app["name"] == "brand new"
    _, _, listing = call(api, "GET", path)
    assert listing["data"][0]["id"] == app["id"]  # newest first
    assert call(api, "POST", path, {})[2]["error"]["message"] == '"name" is required'
    assert call(api, "POST", path, {"name": ""})[0] == 400


def test_unknown_and_forbidden(api):
    status, _, body = call(api, "GET", f"/accounts/{'f' * 32}/realtime/kit/apps")
    assert status == 404 and body["success"] is False and body["error"]["code"] == 404
    assert call(api, "GET", f"/accounts/{ACME}/realtime/kit/apps", token=BETA_ONLY)[0] == 403
    status, _, body = call(api, "GET", hooks_path(api, app=MISSING_UUID))
    assert status == 404 and body["error"]["code"] == 404
    assert call(api, "GET", "/nowhere")[0] == 404
    assert call(api, "DELETE", "/accounts")[0] == 405
    assert call(api, "PUT", hooks_path(api), new_hook())[0] == 405


# --- webhooks ----------------------------------------------------------------------

def test_webhook_listing(api):
    status, _, body = call(api, "GET", hooks_path(api))
    assert status == 200 and body["success"] is True
    assert body["data"] == api.webhooks(ACME, first_app(api))
    assert all(set(h) == {"id", "name", "url", "events", "enabled", "created_at",
                          "updated_at"} for h in body["data"])


def test_webhook_crud(api):
    path = hooks_path(api)
    status, _, body = call(api, "POST", path, new_hook(enabled=False))
    assert status == 201
    hook = body["data"]
    assert hook["enabled"] is False and hook["created_at"] == hook["updated_at"]
    assert hook["created_at"].endswith("Z") and len(hook["created_at"]) == 24
    assert hook in call(api, "GET", path)[2]["data"]
    assert call(api, "GET", f"{path}/{hook['id']}")[2]["data"] == hook
    assert api.webhook(ACME, first_app(api), hook["id"]) == hook

    status, _, body = call(api, "PUT", f"{path}/{hook['id']}", new_hook(name="replaced"))
    assert status == 200
    put = body["data"]
    assert put["name"] == "replaced" and put["enabled"] is True  # PUT resets enabled
    assert parse_time(put["updated_at"]) > parse_time(hook["updated_at"])

    status, _, body = call(api, "PATCH", f"{path}/{hook['id']}", {"url": "http://x.example/"})
    patched = body["data"]
    assert patched["url"] == "http://x.example/" and patched["name"] == "replaced"
    assert parse_time(patched["updated_at"]) > parse_time(put["updated_at"])
    assert patched["created_at"] == hook["created_at"]

    status, _, body = call(api, "DELETE", f"{path}/{hook['id']}")
    assert status == 200 and body["data"] == patched
    status, _, body = call(api, "GET", f"{path}/{hook['id']}")
    assert status == 404 and body["error"]["message"] == "Error: resource not found"


@pytest.mark.parametrize("method, body, message", [
    ("POST", {"url": "https://a.example", "events": []}, '"name" is required'),
    ("POST", new_hook(url="ftp://a.example"), '"url" must be a valid uri'),
    ("POST", new_hook(url="https://"), '"url" must be a valid uri'),
    ("POST", new_hook(url="/relative"), '"url" must be a valid uri'),
    ("POST", new_hook(events=["meeting.started", "bogus"]), '"events[1]" must be one of ['),
    ("POST", new_hook(events="meeting.started"), '"events" must be an array'),
    ("POST", new_hook(enabled="yes"), '"enabled" must be a boolean'),
    ("POST", new_hook(name=""), '"name" is not allowed to be empty'),
    ("POST", [1, 2], '"value" must be of type object'),
    ("PUT", {"name": "n", "url": "https://a.example"}, '"events" is required'),
    ("PATCH", {"color": "red"}, '"color" is not allowed'),
    ("PATCH", {"enabled": 1}, '"enabled" must be a boolean'),
])
def test_webhook_validation(api, method, body, message):
    path = hooks_path(api)
    if method != "POST":
        path += "/" + api.webhooks(ACME, first_app(api))[0]["id"]
    before = api.webhooks(ACME, first_app(api))
    status, _, reply = call(api, method, path, body)
    assert status == 400 and reply["success"] is False
    assert reply["error"]["code"] == 400 and reply["error"]["message"].startswith(message)
    assert api.webhooks(ACME, first_app(api)) == before


def test_webhook_bad_json_and_guid(api):
    path = hooks_path(api)
    assert call(api, "POST", path, raw=b"{not json")[0] == 400
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        status, _, body = call(api, method, f"{path}/not-a-uuid", new_hook())
        assert status == 400 and body["error"]["message"] == '"id" must be a valid GUID'


def test_patch_every_field_and_empty_events(api):
    path = hooks_path(api)
    hook = api.webhooks(ACME, first_app(api))[0]
    change = {"name": "Zoë", "url": "https://n.example/x?y=1", "events": [], "enabled": False}
    body = call(api, "PATCH", f"{path}/{hook['id']}", change)[2]["data"]
    assert {k: body[k] for k in change} == change


# --- store access from Python --------------------------------------------------------

def test_store_changes_behind_the_clients_back(api):
    app = first_app(api)
    hook = api.webhooks(ACME, app)[0]
    changed = api.set_webhook_field(ACME, app, hook["id"], "enabled", not hook["enabled"])
    assert parse_time(changed["updated_at"]) > parse_time(hook["updated_at"])
    assert call(api, "GET", f"{hooks_path(api)}/{hook['id']}")[2]["data"] == changed
    added = api.add_webhook(ACME, app, {"name": "side door", "url": "https://s.example"})
    assert added in call(api, "GET", hooks_path(api))[2]["data"]
    api.delete_webhook(ACME, app, added["id"])
    assert api.webhook(ACME, app, added["id"]) is None
    assert [a["name"] for a in api.accounts()] == ["Acme Media", "Beta Labs"]


def test_random_change(api):
    before = api.state()
    rng = random.Random(3)
    descriptions = [api.random_change(rng) for _ in range(20)]
    assert all(isinstance(d, str) and d for d in descriptions)
    assert api.state() != before


# --- log ------------------------------------------------------------------------------

def test_log(api):
    call(api, "POST", hooks_path(api) + "?x=1", new_hook())
    call(api, "POST", hooks_path(api), raw=b"not json")
    call(api, "GET", "/accounts", token=None)
    call(api, "GET", "/__fake/state", token=None)
    entries = api.requests()
    assert len(entries) == 3  # control endpoints are not logged
    post = entries[0]
    assert post["method"] == "POST" and post["query"] == {"x": "1"}
    assert post["path"] == hooks_path(api) and post["status"] == 201
    assert post["body"] == new_hook() and post["authorization"] is True
    assert post["headers"]["authorization"] == "<redacted>"
    assert USER not in json.dumps(entries)
    assert entries[1]["body"] == "not json"
    assert entries[2]["authorization"] is False and entries[2]["status"] == 401
    assert entries[0]["time"] <= entries[1]["time"] <= entries[2]["time"]
    assert api.count("POST") == 2
    assert api.count("POST", r"/accounts/.*/webhooks") == 2
    assert api.count(path="/accounts") == 1
    assert api.count(path="/acc") == 0  # fullmatch
    assert api.log.requests() == entries and api.log.count("GET") == 1
    api.clear_log()
    assert api.requests() == [] and api.log.requests() == []


# --- rate limits -----------------------------------------------------------------------

def test_rate_limit_headers(api):
    _, hdrs, _ = call(api, "GET", "/accounts")
    assert hdrs["Ratelimit"] == '"default";r=1199;t=300'
    assert hdrs["Ratelimit-Policy"] == '"burst";q=1200;w=300'
    assert "retry-after" not in hdrs


def test_rate_limit_enforced(api):
    api.set_rate_limit(3, 60)
    assert [call(api, "GET", "/accounts")[0] for _ in range(3)] == [200] * 3
    status, hdrs, body = call(api, "GET", "/accounts")
    assert status == 429 and int(hdrs["retry-after"]) > 0
    assert hdrs["Ratelimit"].startswith('"default";r=0;')
    assert body["errors"][0]["code"] == 971
    assert body["errors"][0]["message"].startswith("More than 3 requests per 60 seconds")
    assert call(api, "GET", "/accounts", token=ACCT)[0] == 200  # per token
    api.rate_limit_reset()
    assert call(api, "GET", "/accounts")[0] == 200


def test_legacy_rate_limit_headers(api):
    api.set_settings(legacy_ratelimit_headers=True)
    _, hdrs, _ = call(api, "GET", "/accounts")
    assert hdrs["x-ratelimit-limit"] == "1200" and hdrs["x-ratelimit-remaining"] == "1199"
    assert hdrs["x-ratelimit-reset"].endswith("GMT") and "Ratelimit" not in hdrs


# --- faults -------------------------------------------------------------------------------

def test_fault_status_skip_count(api):
    fid = api.add_fault("status", path=r"/accounts$", method="GET", status=503,
                        skip=1, count=2, retry_after=7)
    results = [call(api, "GET", "/accounts") for _ in range(4)]
    assert [r[0] for r in results] == [200, 503, 503, 200]
    assert results[1][1]["retry-after"] == "7"
    assert results[1][2]["errors"][0]["message"] == "injected 503"
    assert call(api, "GET", "/user/tokens/verify")[0] == 200  # path did not match
    api.remove_fault(fid)


def test_fault_status_rtk_envelope_and_custom_body(api):
    api.add_fault("status", path="/webhooks", status=500, count=1)
    status, _, body = call(api, "GET", hooks_path(api))
    assert status == 500 and body == {"success": False,
                                      "error": {"code": 500, "message": "injected 500"}}
    api.add_fault("status", status=502, body="bad gateway", count=1)
    status, _, body = call(api, "GET", "/accounts")
    assert (status, body) == (502, b"bad gateway")
    assert call(api, "GET", "/accounts")[0] == 200


def test_fault_phase_after(api):
    api.add_fault("status", method="POST", status=503, phase="after")
    status, _, _ = call(api, "POST", hooks_path(api), new_hook(name="applied anyway"))
    assert status == 503
    assert "applied anyway" in [h["name"] for h in api.webhooks(ACME, first_app(api))]


def test_fault_latency(api):
    api.add_fault("latency", ms=300, count=1)
    start = time.monotonic()
    assert call(api, "GET", "/accounts")[0] == 200
    assert time.monotonic() - start >= 0.3
    api.set_latency(0)


def test_fault_hang_then_release(api):
    fid = api.add_fault("hang", path="/accounts")
    conn = raw_get(api, "/accounts", timeout=0.3)
    with pytest.raises(socket.timeout):
        conn.getresponse()
    assert api.requests()[-1]["status"] is None
    api.remove_fault(fid)
    time.sleep(0.1)
    assert call(api, "GET", "/accounts")[0] == 200


def test_stop_releases_hung_requests():
    fake = FakeAPI(DEMO).start()
    fake.add_fault("hang")
    conns = [raw_get(fake, "/accounts", timeout=5) for _ in range(3)]
    time.sleep(0.2)
    start = time.monotonic()
    fake.stop()
    assert time.monotonic() - start < 1.0
    for conn in conns:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            conn.getresponse()


def test_fault_drip(api):
    api.add_fault("drip", path="/tokens/verify", interval_ms=2, count=1)
    start = time.monotonic()
    status, _, body = call(api, "GET", "/user/tokens/verify")
    assert status == 200 and body["success"] is True
    assert time.monotonic() - start >= 0.1  # about 120 bytes at 2 ms each


def test_fault_reset(api):
    api.add_fault("reset", count=1)
    conn = raw_get(api, "/accounts")
    with pytest.raises(ConnectionResetError):
        conn.getresponse()
    assert call(api, "GET", "/accounts")[0] == 200


def test_fault_truncate(api):
    api.add_fault("truncate", count=1)
    conn = raw_get(api, "/accounts")
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises(http.client.IncompleteRead):
        resp.read()


def test_fault_malformed_and_wrong_shape(api):
    api.add_fault("malformed", count=1)
    status, hdrs, body = call(api, "GET", "/accounts")
    assert status == 200 and hdrs["Content-Type"] == "text/html"
    assert body == b"<html><body>502 Bad Gateway</body></html>"
    api.add_fault("wrong_shape", count=2)
    assert call(api, "GET", "/accounts")[2] == {"success": True, "result": "string",
                                                "errors": [], "messages": []}
    assert call(api, "GET", hooks_path(api))[2] == {"success": True,
                                                    "data": {"unexpected": "object"}}


def test_fault_oversized(api):
    api.add_fault("oversized", size=1 << 20, count=1)
    status, hdrs, body = call(api, "GET", "/accounts")
    assert status == 200 and int(hdrs["Content-Length"]) == 1 << 20
    assert body["success"] is True and len(body["data"]) > 1000


def test_fault_oversized_client_goes_away(api):
    api.add_fault("oversized", count=1)  # 64 MiB
    conn = raw_get(api, "/accounts")
    resp = conn.getresponse()
    resp.read(1000)
    conn.sock.close()
    conn.close()
    time.sleep(0.1)
    assert call(api, "GET", "/accounts")[0] == 200


def test_fault_deep_nesting(api):
    api.add_fault("deep_nesting", depth=5000, count=1)
    status, _, body = call(api, "GET", "/accounts")
    assert status == 200 and body.startswith(b"[[[[") and len(body) == 10000


@pytest.mark.parametrize("which", ["accounts", "apps", "webhooks"])
def test_fault_hostile_ids(api, which):
    path = {"accounts": "/accounts", "apps": f"/accounts/{ACME}/realtime/kit/apps",
            "webhooks": hooks_path(api)}[which]
    _, _, normal = call(api, "GET", path)
    api.add_fault("hostile_ids", count=1)
    _, _, body = call(api, "GET", path)
    items = body["result" if which == "accounts" else "data"]
    normal_items = normal["result" if which == "accounts" else "data"]
    ids = [i.get("id", "<missing>") for i in items[len(normal_items):]]
    assert ids[:7] == ["", ".", "..", "a/b", "nul\0id", "x" * 300, "../../etc"]
    assert "<missing>" in ids and 12345 in ids and None in ids
    assert items[:len(normal_items)] == normal_items


def test_fault_redirect_to_sink(api):
    with Sink() as sink:
        api.add_fault("redirect", location=sink.url + "/elsewhere", count=1)
        conn = raw_get(api, "/accounts")
        resp = conn.getresponse()
        assert resp.status == 302 and resp.getheader("Location") == sink.url + "/elsewhere"
        resp.read()
        status, _, body = call(api, "GET", "/accounts")  # a plain 200 now
        assert status == 200
        api.add_fault("redirect", location=sink.url + "/followed", count=1)
        call(api, "GET", "/accounts")  # urllib follows redirects
        seen = sink.requests()
        assert [r["path"] for r in seen] == ["/followed"]
        assert isinstance(seen[0]["authorization"], bool) and "host" in seen[0]["headers"]


def test_fault_validation(api):
    with pytest.raises(ValueError):
        api.add_fault("explode")
    with pytest.raises(ValueError):
        api.add_fault("status")  # status= missing
    with pytest.raises(ValueError):
        api.add_fault("latency", ms=1, colour="red")


def test_faults_in_order_and_clear(api):
    api.add_fault("status", status=500)
    api.add_fault("status", status=502)
    assert call(api, "GET", "/accounts")[0] == 500
    api.clear_faults()
    assert call(api, "GET", "/accounts")[0] == 200


def test_keep_alive_across_requests(api):
    conn = http.client.HTTPConnection(api.host, api.port, timeout=5)
    for _ in range(3):
        conn.request("GET", "/accounts", headers={"Authorization": f"Bearer {USER}"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Length")
        resp.read()
    conn.close()


# --- control endpoints ----------------------------------------------------------------------

def test_control_endpoints(api):
    def ctl(method, path, body=None):
        return call(api, method, "/__fake" + path, body, token=None)

    _, _, reply = ctl("POST", "/faults", {"kind": "status", "status": 418, "count": 1})
    assert call(api, "GET", "/accounts")[0] == 418
    assert ctl("GET", f"/count?method=GET&path=/accounts")[2] == {"count": 1}
    assert len(ctl("GET", "/log")[2]) == 1
    ctl("POST", "/log/clear")
    assert ctl("GET", "/log")[2] == []
    fid = ctl("POST", "/faults", {"kind": "status", "status": 500})[2]["id"]
    ctl("DELETE", f"/faults/{fid}")
    ctl("POST", "/faults", {"kind": "status", "status": 500})
    ctl("DELETE", "/faults")
    assert call(api, "GET", "/accounts")[0] == 200
    ctl("POST", "/rate_limit", {"n": 1, "window": 30})
    assert call(api, "GET", "/accounts")[0] == 200
    assert call(api, "GET", "/accounts")[0] == 429
    ctl("POST", "/latency", {"ms": 0})
    state = ctl("GET", "/state")[2]
    assert [a["name"] for a in state["accounts"]] == ["Acme Media", "Beta Labs"]
    assert ctl("POST", "/random_change", {"seed": 1})[2]["change"]
    assert ctl("POST", "/faults", {"kind": "bogus"})[0] == 400
    assert ctl("GET", "/nothing")[0] == 404


# --- fixtures and the CLI -----------------------------------------------------------------

def test_demo_fixture_shape():
    fx = json.loads(DEMO.read_text())
    acme, beta = fx["accounts"]
    assert (acme["name"], len(acme["apps"]), beta["name"], len(beta["apps"])) == \
        ("Acme Media", 7, "Beta Labs", 2)
    hooks = [h for acc in fx["accounts"] for app in acc["apps"] for h in app["webhooks"]]
    assert len(hooks) >= 24
    assert any(not h["enabled"] for h in hooks)
    assert any(h["events"] == [] for h in hooks) and any(h["events"] == EVENTS for h in hooks)
    assert sum("old-host.example.com" in h["url"] for h in hooks) >= 2
    assert any(h["created_at"] == h["updated_at"] for h in hooks)
    assert any(not h["name"].isascii() for h in hooks)
    assert all(h["updated_at"] >= h["created_at"] for h in hooks)


def test_genfixture_deterministic_and_fast():
    start = time.monotonic()
    big = genfixture.generate(2, 5, 1000, seed=7)
    assert time.monotonic() - start < 3
    assert genfixture.generate(2, 5, 1000, seed=7) == big
    assert genfixture.generate(2, 5, 1000, seed=8) != big
    hooks = [h for acc in big["accounts"] for app in acc["apps"] for h in app["webhooks"]]
    assert len(hooks) == 10000 and len({h["id"] for h in hooks}) == 10000
    assert all(len(a["id"]) == 32 for a in big["accounts"])
    assert all(parse_time(h["updated_at"]) >= parse_time(h["created_at"]) for h in hooks)
    assert any(h["updated_at"] == h["created_at"] for h in hooks)
    assert len({h["url"].split("/")[2] for h in hooks}) > 3
    with FakeAPI(big) as fake:
        account = big["accounts"][0]["id"]
        assert len(call(fake, "GET", hooks_path(fake, account))[2]["data"]) == 1000


def test_server_cli(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--port", "0", "--fixture", str(DEMO),
         "--port-file", str(port_file)],
        stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("fakeapi: listening on http://127.0.0.1:")
        port = int(port_file.read_text())
        assert line.strip().endswith(f":{port}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/client/v4/user/tokens/verify",
                     headers={"Authorization": f"Bearer {USER}"})
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_genfixture_cli():
    out = subprocess.run([sys.executable, str(HERE / "genfixture.py"), "--accounts", "1",
                          "--apps", "2", "--webhooks", "3", "--seed", "5",
                          "--apps-max-per-page", "1"],
                         check=True, capture_output=True, text=True).stdout
    fx = json.loads(out)
    assert fx["settings"]["apps_max_per_page"] == 1
    assert len(fx["accounts"][0]["apps"][1]["webhooks"]) == 3


# --- outages, restarts, hostile paging, pauses (issue 11) ---------------------------------

def connect_refused(api):
    try:
        socket.create_connection((api.host, api.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_down_refuse_then_up_on_the_same_port(api):
    port = api.port
    assert call(api, "GET", "/user/tokens/verify")[0] == 200
    api.down()
    assert api.outage == "refuse"
    assert connect_refused(api)
    api.up()
    assert api.outage is None and api.port == port
    assert call(api, "GET", "/user/tokens/verify")[0] == 200
    # The store and log survive.
    assert api.count("GET", "/user/tokens/verify") == 2


def test_down_refuse_closes_open_connections(api):
    conn = http.client.HTTPConnection(api.host, api.port, timeout=5)
    conn.request("GET", "/accounts", headers={"Authorization": f"Bearer {USER}"})
    assert conn.getresponse().read()
    api.down("refuse")
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/accounts", headers={"Authorization": f"Bearer {USER}"})
        conn.getresponse().read()
    conn.close()
    api.up()


def test_down_drop_counts_attempts(api):
    t0 = time.monotonic()
    api.down("drop")
    for _ in range(3):
        with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
            call(api, "GET", "/accounts")
    t1 = time.monotonic()
    log = api.requests(since=t0, until=t1)
    assert [(e["path"], e["status"], e["outage"]) for e in log] == [("/accounts", None, "drop")] * 3
    assert api.count("GET", "/accounts", since=t0, until=t1) == 3
    assert api.connections(since=t0, until=t1) == 3
    assert api.count(since=t1) == 0
    # The fake's rate limit does not count requests it never served.
    api.up()
    status, headers, _ = call(api, "GET", "/accounts")
    assert status == 200 and 'r=1199' in headers["Ratelimit"]


def test_down_hang_answers_nothing_until_up(api):
    api.down("hang")
    conn = raw_get(api, "/accounts", timeout=0.5)
    with pytest.raises(socket.timeout):
        conn.getresponse()
    assert api.requests()[-1]["status"] is None
    api.up()
    assert call(api, "GET", "/accounts")[0] == 200
    conn.close()


def test_down_twice_and_bad_mode(api):
    with pytest.raises(ValueError):
        api.down("sideways")
    api.down("hang")
    with pytest.raises(ValueError):
        api.down("drop")
    api.up()
    api.up()       # up while up: nothing


def test_stop_while_down_hang_releases():
    api = FakeAPI(DEMO).start()
    api.down("hang")
    conn = raw_get(api, "/accounts", timeout=5)
    t0 = time.monotonic()
    api.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.getresponse()
    assert time.monotonic() - t0 < 3


def test_stop_while_down_refuse():
    api = FakeAPI(DEMO).start()
    api.down()
    api.stop()


def test_restart_during_a_transfer(api):
    api.add_fault("drip", path="/accounts$", interval_ms=50)
    conn = raw_get(api, "/accounts", timeout=5)
    resp = conn.getresponse()
    resp.read(3)
    api.restart(down_s=0.1)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        resp.read()
    api.clear_faults()
    assert call(api, "GET", "/accounts")[0] == 200


def test_kill_connections(api):
    conn = http.client.HTTPConnection(api.host, api.port, timeout=5)
    conn.request("GET", "/accounts", headers={"Authorization": f"Bearer {USER}"})
    conn.getresponse().read()
    assert api.kill_connections() >= 1
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/accounts", headers={"Authorization": f"Bearer {USER}"})
        conn.getresponse().read()
    assert call(api, "GET", "/accounts")[0] == 200


def test_control_down_up(api):
    assert call(api, "POST", "/__fake/down", {"mode": "refuse"})[0] == 400
    assert call(api, "POST", "/__fake/down", {"mode": "drop"})[0] == 200
    with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
        call(api, "GET", "/accounts")
    assert call(api, "GET", "/__fake/connections")[2]["count"] >= 3
    assert call(api, "POST", "/__fake/up", {})[0] == 200
    assert call(api, "GET", "/accounts")[0] == 200


@pytest.mark.parametrize("kind", ["paging_repeat", "paging_endless"])
def test_fault_hostile_paging(api, kind):
    api.add_fault(kind)
    ids = []
    for page in (1, 2, 3, 50):
        status, _, body = call(api, "GET", f"/accounts/{ACME}/realtime/kit/apps"
                               f"?page_no={page}&per_page=10")
        assert status == 200
        assert len(body["data"]) == 1
        paging = body["paging"]
        assert paging["total_count"] == 1000000
        assert paging["start_offset"] == paging["end_offset"] == (page - 1) * 10 + 1
        ids.append(body["data"][0]["id"])
    if kind == "paging_repeat":
        assert len(set(ids)) == 1
    else:
        assert len(set(ids)) == 4
        status, _, again = call(api, "GET", f"/accounts/{ACME}/realtime/kit/apps?page_no=2")
        assert again["data"][0]["id"] == ids[1]
    # Other paths are served normally.
    assert call(api, "GET", "/accounts")[2]["result"][0]["id"] == ACME
    status, _, body = call(api, "GET", hooks_path(api))
    assert status == 200 and body["data"]


def test_fault_status_with_headers_replaces_ratelimit(api):
    api.add_fault("status", status=429, retry_after=86400,
                  headers={"Ratelimit": '"default";r=0;t=86400'})
    status, headers, _ = call(api, "GET", "/accounts")
    assert status == 429
    assert headers["retry-after"] == "86400"
    assert headers.get_all("Ratelimit") == ['"default";r=0;t=86400']
    assert headers["Ratelimit-Policy"]          # the limiter's other header stays
