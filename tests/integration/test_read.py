# SPDX-License-Identifier: MIT
"""The read path: the tree, file contents and attributes, and what the fake API saw."""
import json
import os
import re
import stat
import subprocess
import time

from conftest import epoch, pretty, render, run

A = "023e105f4ecef8ad9ca31a8372d0c353"   # Acme Media: 7 apps, 3 pages of 3
B = "9a7806061c88ada191ed06f989cc3dac"   # Beta Labs
P = "cfc2ffe4-ed22-41f1-ad33-ce50dcfe4bcc"  # town-hall: 5 webhooks
WEBHOOK_FILES = ["created_at", "enabled", "events", "id", "name", "updated_at", "url",
                 "webhook.json"]

LIST_ACCOUNTS = r"/accounts"
LIST_APPS = r"/accounts/[^/]+/realtime/kit/apps"
LIST_WEBHOOKS = r"/accounts/[^/]+/realtime/kit/[^/]+/webhooks"
ONE_WEBHOOK = r"/accounts/[^/]+/realtime/kit/[^/]+/webhooks/[^/]+"


def wdir(a=A, p=P):
    return f"accounts/{a}/apps/{p}/webhooks"








def test_tree_names(api, mount):
    m = mount(api)
    assert os.listdir(m.path()) == ["accounts"]
    assert sorted(os.listdir(m / "accounts")) == sorted([A, B])
    assert sorted(os.listdir(m / f"accounts/{A}")) == ["account.json", "apps", "apps.json", "id",
                                                       "name"]
    apps = [app["id"] for app in api.apps(A)]
    assert len(apps) == 7
    assert sorted(os.listdir(m / f"accounts/{A}/apps")) == sorted(apps)
    assert sorted(os.listdir(m / f"accounts/{A}/apps/{P}")) == [
        "app.json", "created_at", "id", "name", "webhooks", "webhooks.json"]
    hooks = [w["id"] for w in api.webhooks(A, P)]
    assert sorted(os.listdir(m / wdir())) == sorted(hooks)
    assert sorted(os.listdir(m / wdir() / hooks[0])) == WEBHOOK_FILES
    # The control directory opens by name but is not listed.
    assert ".rtkfs" not in run(["ls", "-a", str(m.path())]).stdout.split()
    assert os.path.isdir(m / ".rtkfs")


def test_file_contents_match_the_api(api, mount):
    m = mount(api)
    for acc in api.accounts():
        assert (m / f"accounts/{acc['id']}/name").read_text() == render(acc["name"])
        assert (m / f"accounts/{acc['id']}/id").read_text() == render(acc["id"])
        shown = json.loads((m / f"accounts/{acc['id']}/account.json").read_text())
        assert {k: shown[k] for k in acc} == acc       # and what else GET /accounts adds
        for app in api.apps(acc["id"]):
            base = m / f"accounts/{acc['id']}/apps/{app['id']}"
            assert (base / "name").read_text() == render(app.get("name"))
            assert (base / "created_at").read_text() == render(app.get("created_at"))
            assert (base / "app.json").read_text() == pretty(app)
            for hook in api.webhooks(acc["id"], app["id"]):
                h = base / "webhooks" / hook["id"]
                for field in ("id", "name", "url", "enabled", "events", "created_at",
                              "updated_at"):
                    assert (h / field).read_text() == render(hook.get(field)), field
                assert (h / "webhook.json").read_text() == pretty(hook)


def test_attributes(api, mount):
    m = mount(api)
    hook = api.webhooks(A, P)[0]
    h = m / wdir() / hook["id"]
    for field in WEBHOOK_FILES:
        st = os.stat(h / field)
        data = (h / field).read_bytes()
        assert st.st_size == len(data), field
        assert stat.S_ISREG(st.st_mode)
        mode = stat.S_IMODE(st.st_mode)
        writable = field in ("name", "url", "enabled", "events", "webhook.json")
        assert mode == (0o644 if writable else 0o444), field
        assert abs(st.st_mtime - epoch(hook["updated_at"])) < 0.002, field
        assert st.st_uid == os.getuid()
    for d in ("", "accounts", f"accounts/{A}", f"accounts/{A}/apps", wdir(), wdir() + "/" + hook["id"]):
        st = os.stat(m / d) if d else os.stat(m.path())
        assert stat.S_ISDIR(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o755
        assert st.st_nlink == 1, d
    assert abs(os.stat(h).st_mtime - epoch(hook["updated_at"])) < 0.002
    # Inode numbers stay the same for a path.
    first = {f: os.stat(h / f).st_ino for f in WEBHOOK_FILES}
    assert len(set(first.values())) == len(first)
    run(["sh", "-c", "echo flush > .rtkfs/ctl"], cwd=m.path())
    assert {f: os.stat(h / f).st_ino for f in WEBHOOK_FILES} == first


def test_ls_lt_orders_by_updated_at(api, mount):
    m = mount(api)
    out = run(["ls", "-t", str(m / wdir())]).stdout.split()
    expected = [w["id"] for w in sorted(api.webhooks(A, P), key=lambda w: w["updated_at"],
                                        reverse=True)]
    assert out == expected


def test_cold_ls_then_cat_everything_costs_one_request_per_listing(api, mount):
    m = mount(api)
    api.clear_log()
    out = run(["ls", "-l", str(m / wdir())])
    assert out.returncode == 0, out.stderr
    assert api.count("GET", LIST_WEBHOOKS) == 1
    assert api.count("GET", LIST_ACCOUNTS) == 1
    assert api.count("GET", LIST_APPS) == 3          # 7 apps, 3 per page
    before = len(api.requests())
    out = run(f"cat {wdir()}/*/*", cwd=m.path())
    assert out.returncode == 0, out.stderr
    assert len(api.requests()) == before
    assert api.count(None, ONE_WEBHOOK) == 0          # never a per-webhook GET


def test_grep_r_over_the_demo_tree(api, mount):
    m = mount(api)
    api.clear_log()
    out = run(["grep", "-rl", "meeting.transcript", "accounts"], cwd=m.path())
    assert out.returncode == 0, out.stderr
    expected = sorted(set(
        path
        for acc in api.accounts() for app in api.apps(acc["id"])
        for h in api.webhooks(acc["id"], app["id"])
        if "meeting.transcript" in h["events"]
        for path in (f"accounts/{acc['id']}/apps/{app['id']}/webhooks/{h['id']}/events",
                     f"accounts/{acc['id']}/apps/{app['id']}/webhooks/{h['id']}/webhook.json",
                     f"accounts/{acc['id']}/apps/{app['id']}/webhooks.json")))
    assert sorted(out.stdout.split()) == expected
    napps = sum(len(api.apps(acc["id"])) for acc in api.accounts())
    cold = len(api.requests())
    # One per page of accounts, of each account's apps, and one per app.
    assert cold == 1 + 3 + 1 + napps
    assert api.count(None, ONE_WEBHOOK) == 0
    api.clear_log()
    out = run(["grep", "-rl", "meeting.transcript", "accounts"], cwd=m.path())
    assert sorted(out.stdout.split()) == expected
    assert len(api.requests()) == 0                   # warm: nothing asked
    print(f"\ngrep -r over the demo tree: cold {cold} requests, warm 0")


def test_find_lists_every_file(api, mount):
    m = mount(api)
    out = run(["find", "accounts", "-type", "f"], cwd=m.path())
    assert out.returncode == 0, out.stderr
    files = out.stdout.split()
    nhooks = sum(len(api.webhooks(a["id"], p["id"])) for a in api.accounts()
                 for p in api.apps(a["id"]))
    napps = sum(len(api.apps(a["id"])) for a in api.accounts())
    # account: id, name, account.json, apps.json; app: 4 fields, webhooks.json; webhook: 8.
    assert len(files) == 4 * len(api.accounts()) + 5 * napps + 8 * nhooks


def test_reads_within_ttl_are_free_and_after_ttl_refresh_once(api, mount):
    m = mount(api, options={"ttl": 1})
    f = m / wdir() / api.webhooks(A, P)[0]["id"] / "url"
    f.read_text()
    api.clear_log()
    for _ in range(20):
        f.read_text()
        os.stat(f)
    assert len(api.requests()) == 0
    time.sleep(1.3)  # let the 1 s TTL pass: the behaviour under test, not a synchronisation
    for _ in range(5):
        f.read_text()
    assert api.count("GET", LIST_WEBHOOKS) == 1
    assert api.count("GET", LIST_APPS) <= 3


def test_refresh_shows_changes_made_elsewhere(api, mount):
    m = mount(api, options={"ttl": 1})
    hook = api.webhooks(A, P)[0]
    f = m / wdir() / hook["id"] / "url"
    assert f.read_text() == hook["url"] + "\n"
    api.set_webhook_field(A, P, hook["id"], "url", "https://changed.example.com/a-longer-path")
    time.sleep(1.3)
    assert f.read_text() == "https://changed.example.com/a-longer-path\n"
    api.delete_webhook(A, P, hook["id"])
    time.sleep(1.3)
    assert hook["id"] not in os.listdir(m / wdir())
    assert not (m / wdir() / hook["id"]).exists()


def test_fifty_concurrent_readers_of_a_cold_app_make_one_request(api, mount):
    m = mount(api)
    os.listdir(m / f"accounts/{A}/apps/{P}")           # warm the ancestors only
    api.clear_log()
    api.add_fault("latency", path=LIST_WEBHOOKS, ms=300)
    hooks = api.webhooks(A, P)
    paths = [m / wdir() / hooks[i % len(hooks)]["id"] / WEBHOOK_FILES[i % 8] for i in range(50)]
    procs = [subprocess.Popen(["cat", str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for p in paths]
    for p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
    assert api.count("GET", LIST_WEBHOOKS) == 1


def test_pages_of_accounts_and_apps_all_appear(make_api, mount):
    import genfixture
    fixture = genfixture.generate(accounts=7, apps=7, webhooks=1, seed=3)
    fixture["settings"] = {"accounts_max_per_page": 5, "apps_max_per_page": 3}
    api = make_api(fixture)
    m = mount(api, token=fixture["tokens"][0]["value"])
    accounts = os.listdir(m / "accounts")
    assert sorted(accounts) == sorted(a["id"] for a in api.accounts())
    assert len(accounts) == 7
    assert api.count("GET", LIST_ACCOUNTS) == 2
    a0 = accounts[0]
    assert sorted(os.listdir(m / f"accounts/{a0}/apps")) == sorted(
        p["id"] for p in api.apps(a0))
    assert api.count("GET", LIST_APPS) == 3


def test_named_accounts_need_no_account_listing(api, mount):
    m = mount(api, options={"account": f"{B}"})
    assert os.listdir(m / "accounts") == [B]
    assert sorted(os.listdir(m / f"accounts/{B}")) == ["apps", "apps.json"]  # no name: not listed
    assert len(os.listdir(m / f"accounts/{B}/apps")) == 2
    assert api.count("GET", LIST_ACCOUNTS) == 0


def test_hostile_ids_are_left_out(api, mount):
    m = mount(api)
    api.add_fault("hostile_ids", path=LIST_WEBHOOKS)
    api.add_fault("hostile_ids", path=LIST_APPS)
    names = os.listdir(m / wdir())
    assert sorted(names) == sorted(w["id"] for w in api.webhooks(A, P))
    assert sorted(os.listdir(m / f"accounts/{A}/apps")) == sorted(p["id"] for p in api.apps(A))
    out = run(["find", "."], cwd=m.path())
    assert out.returncode == 0
    assert "/etc" not in out.stdout and "xxxxxxxxxx" not in out.stdout
    assert "unsafe" in m.output() or "left out" in m.output()


def test_ids_typed_by_the_user_are_checked(api, mount):
    m = mount(api)
    os.listdir(m / "accounts")
    api.clear_log()
    # Unsafe names (a space, over-long) and names absent from the fresh listing: ENOENT,
    # and no request is built from them.
    for bad in ("..%2f", "a b", "x" * 40, "0" * 32):
        out = run(["stat", f"accounts/{bad}"], cwd=m.path())
        assert out.returncode != 0
        assert "No such file or directory" in out.stderr, out.stderr
    assert api.requests() == []


def test_named_account_ids_are_percent_encoded(api, mount):
    m = mount(api, options={"account": "ab%cd~x"})
    assert os.listdir(m / "accounts") == ["ab%cd~x"]
    out = run(["ls", "accounts/ab%cd~x/apps"], cwd=m.path())
    assert out.returncode != 0                      # no such account on the server
    raw = [r for r in api.requests() if "realtime/kit/apps" in r["path"]]
    assert raw, api.requests()
    # '%' travels as %25 (the log keeps the path as sent), so the server decodes the id typed.
    assert all(r["path"].startswith("/accounts/ab%25cd~x/") for r in raw), raw


def test_read_ahead_fetches_sub_collections_in_parallel(api, mount):
    m = mount(api, options={"prefetch": 8})
    api.add_fault("latency", path=LIST_WEBHOOKS, ms=300)
    napps = sum(len(api.apps(acc["id"])) for acc in api.accounts())
    os.listdir(m / "accounts")
    # Every app's webhooks are fetched in the background: wait for them (bounded).
    deadline = time.monotonic() + 20
    while api.count("GET", LIST_WEBHOOKS) < napps and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.count("GET", LIST_WEBHOOKS) == napps
    starts = sorted(r["time"] for r in api.requests() if r["method"] == "GET"
                    and re.fullmatch(LIST_WEBHOOKS, r["path"]))
    # Eight workers: the first eight lists were asked for together, not one after another.
    assert starts[7] - starts[0] < 0.25, starts
    time.sleep(0.35)  # let the last injected 300 ms latency answer arrive
    before = len(api.requests())
    out = run(["grep", "-rl", "meeting.transcript", "accounts"], cwd=m.path())
    assert out.returncode == 0
    assert len(api.requests()) == before      # everything was already there
    # One request per list page, read-ahead or not.
    assert api.count("GET", LIST_WEBHOOKS) == napps
    assert api.count("GET", LIST_APPS) == 3 + 1


def test_read_ahead_does_not_refetch_children_on_refresh(api, mount):
    m = mount(api, options={"prefetch": 8, "ttl": 1})
    napps = sum(len(api.apps(acc["id"])) for acc in api.accounts())
    os.listdir(m / "accounts")
    deadline = time.monotonic() + 20
    while api.count("GET", LIST_WEBHOOKS) < napps and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.2)  # the TTL passes
    api.clear_log()
    os.listdir(m / "accounts")          # refreshes the accounts list only
    time.sleep(0.5)  # read-ahead would have started by now: assert it did not
    assert api.count("GET", LIST_WEBHOOKS) == 0
    assert api.count("GET", LIST_APPS) == 0
