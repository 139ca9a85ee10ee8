# SPDX-License-Identifier: MIT
"""Request counts of a whole-tree grep -r (issue 5): cold = one request per list page, warm = 0.

The tree has several pages of accounts and of apps, so following pages is counted too.
"""
import math
import re
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "fakeapi"))

from genfixture import generate  # noqa: E402

EVENT = "meeting.transcript"
ACCOUNTS = 6            # 2 pages of 5
APPS = 3                # 2 pages of 2 per account
WEBHOOKS = 10
ACCOUNTS_PER_PAGE = 5
APPS_PER_PAGE = 2

LIST_ACCOUNTS = r"/accounts"
LIST_APPS = r"/accounts/[^/]+/realtime/kit/apps"
LIST_WEBHOOKS = r"/accounts/[^/]+/realtime/kit/[^/]+/webhooks"


def paged_fixture():
    fx = generate(ACCOUNTS, APPS, WEBHOOKS, seed=11)
    fx["settings"].update(accounts_max_per_page=ACCOUNTS_PER_PAGE,
                          apps_max_per_page=APPS_PER_PAGE)
    return fx


def expected_requests(fx):
    """One GET per page of accounts, per page of each account's apps, and per app."""
    accounts = fx["accounts"]
    n = math.ceil(len(accounts) / ACCOUNTS_PER_PAGE)
    for acc in accounts:
        n += max(1, math.ceil(len(acc["apps"]) / APPS_PER_PAGE)) + len(acc["apps"])
    return n


def expected_matches(fx):
    """The files grep -rl EVENT accounts must print."""
    out = set()
    for acc in fx["accounts"]:
        for app in acc["apps"]:
            for hook in app["webhooks"]:
                if EVENT in hook["events"]:
                    a = f"accounts/{acc['id']}/apps/{app['id']}"
                    d = f"{a}/webhooks/{hook['id']}"
                    # The app's webhooks.json holds the same object (SEMANTICS.md).
                    out |= {f"{d}/events", f"{d}/webhook.json", f"{a}/webhooks.json"}
    return out


def grep_r(m):
    r = m.sh(f"grep -rl {EVENT} accounts", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return set(r.stdout.splitlines())


def test_grep_r_sends_one_request_per_list_page(make_api, mount):
    fx = paged_fixture()
    api = make_api(fx)
    m = mount(api, options={"ttl": 600})
    api.clear_log()

    assert grep_r(m) == expected_matches(fx)

    reqs = api.requests()
    pages = expected_requests(fx)
    assert pages == 2 + ACCOUNTS * (2 + APPS)      # 32: the tree really has several pages
    assert api.count() == pages, [(r["method"], r["path"], r["query"]) for r in reqs]
    assert all(r["method"] == "GET" and r["status"] == 200 for r in reqs)
    # No per-webhook GET, nothing but the three list endpoints, and each page once.
    kinds = {"accounts": 0, "apps": 0, "webhooks": 0}
    for r in reqs:
        if re.fullmatch(LIST_ACCOUNTS, r["path"]):
            kinds["accounts"] += 1
        elif re.fullmatch(LIST_APPS, r["path"]):
            kinds["apps"] += 1
        elif re.fullmatch(LIST_WEBHOOKS, r["path"]):
            kinds["webhooks"] += 1
        else:
            raise AssertionError(f"unexpected request {r['method']} {r['path']}")
    assert kinds == {"accounts": 2, "apps": ACCOUNTS * 2, "webhooks": ACCOUNTS * APPS}
    seen = [(r["path"], tuple(sorted(r["query"].items()))) for r in reqs]
    assert len(set(seen)) == len(seen), "a page was fetched twice"
    pages_of_accounts = sorted(r["query"].get("page") for r in reqs
                               if re.fullmatch(LIST_ACCOUNTS, r["path"]))
    assert pages_of_accounts == ["1", "2"]
    for acc in fx["accounts"]:
        got = sorted(r["query"].get("page_no") for r in reqs
                     if r["path"] == f"/accounts/{acc['id']}/realtime/kit/apps")
        assert got == ["1", "2"]
        for app in acc["apps"]:
            assert api.count("GET", f"/accounts/{acc['id']}/realtime/kit/{app['id']}"
                                    "/webhooks") == 1

    # Warm (within the TTL): the same answer and not one request.
    api.clear_log()
    assert grep_r(m) == expected_matches(fx)
    assert api.count() == 0, [(r["method"], r["path"]) for r in api.requests()]
