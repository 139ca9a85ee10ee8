# SPDX-License-Identifier: MIT
"""Collection documents (issue 14): apps.json and webhooks.json, one JSON array per
collection, served from the same single listing as the directories beside them."""
import json
import subprocess

from conftest import run
from test_read import A, B, LIST_APPS, LIST_WEBHOOKS, P, wdir


def test_listed_and_found(api, mount):
    m = mount(api)
    names = sorted(p.name for p in (m / f"accounts/{A}").iterdir())
    assert names == ["account.json", "apps", "apps.json", "id", "name"]
    assert "webhooks.json" in [p.name for p in (m / f"accounts/{A}/apps/{P}").iterdir()]
    out = run(["find", "accounts", "-name", "*s.json"], cwd=m.path()).stdout.split()
    apps = [app["id"] for acc in api.accounts() for app in api.apps(acc["id"])]
    assert sorted(out) == sorted([f"accounts/{a['id']}/apps.json" for a in api.accounts()] +
                                 [f"accounts/{acc['id']}/apps/{app['id']}/webhooks.json"
                                  for acc in api.accounts() for app in api.apps(acc["id"])])
    assert len(apps) > 0


def test_same_objects_as_each_webhook_json(api, mount):
    m = mount(api)
    doc = json.loads((m / f"accounts/{A}/apps/{P}/webhooks.json").read_text())
    each = [json.loads((m / wdir() / w["id"] / "webhook.json").read_text())
            for w in api.webhooks(A, P)]
    assert doc == each
    assert [w["id"] for w in doc] == [w["id"] for w in api.webhooks(A, P)]  # server order
    apps = json.loads((m / f"accounts/{A}/apps.json").read_text())
    assert sorted(a["id"] for a in apps) == sorted(a["id"] for a in api.apps(A))
    # The size the kernel is told is the size read; read-only.
    st = (m / f"accounts/{A}/apps/{P}/webhooks.json").stat()
    assert st.st_size == len((m / f"accounts/{A}/apps/{P}/webhooks.json").read_bytes())
    assert st.st_mode & 0o777 == 0o444


def test_no_request_of_its_own(api, mount):
    m = mount(api, options={"ttl": 30})
    (m / wdir()).iterdir().__next__()
    before = (api.count("GET", LIST_WEBHOOKS), api.count("GET", LIST_APPS))
    (m / f"accounts/{A}/apps/{P}/webhooks.json").read_bytes()
    (m / f"accounts/{A}/apps.json").read_bytes()
    assert (api.count("GET", LIST_WEBHOOKS), api.count("GET", LIST_APPS)) == before
    # Cold: one listing request serves the document and the directory.
    other = api.apps(B)[0]["id"]
    n = api.count("GET", LIST_WEBHOOKS)
    (m / f"accounts/{B}/apps/{other}/webhooks.json").read_bytes()
    sorted((m / f"accounts/{B}/apps/{other}/webhooks").iterdir())
    assert api.count("GET", LIST_WEBHOOKS) == n + 1


def test_jq_query(api, mount):
    m = mount(api)
    doc = m / f"accounts/{A}/apps/{P}/webhooks.json"
    out = run(["jq", "-r", '.[] | select(.events | index("meeting.transcript")) | .id',
               str(doc)]).stdout.split()
    want = [w["id"] for w in api.webhooks(A, P) if "meeting.transcript" in w["events"]]
    assert out == want


def test_follows_writes(api, mount):
    m = mount(api, options={"ttl": 30})
    w = api.webhooks(A, P)[0]
    doc = m / f"accounts/{A}/apps/{P}/webhooks.json"
    assert json.loads(doc.read_text())[0]["enabled"] == w["enabled"]
    new = "false" if w["enabled"] else "true"
    r = subprocess.run(["/bin/sh", "-c", f"/bin/echo {new} > '{m / wdir() / w['id'] / 'enabled'}'"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(doc.read_text())[0]["enabled"] == (new == "true")


def test_not_writable(api, mount):
    m = mount(api)
    r = run(f"/bin/echo '[]' > 'accounts/{A}/apps.json'", cwd=m.path())
    assert r.returncode != 0
    assert api.count("PUT", r".*") + api.count("PATCH", r".*") + api.count("POST", r".*") == 0
