"""Generate a fake-API fixture of any size, deterministically from a seed.

    /usr/bin/python3 tests/fakeapi/genfixture.py --accounts 2 --apps 5 \\
        --webhooks 1000 --seed 7 > /tmp/big.json

--apps and --webhooks are per account and per app.  Importable: generate().
"""

import argparse
import json
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone

from fakeapi import EVENTS, format_time

USER_TOKEN = "rtk-demo-token-5b1e2c9a7d"
ACCOUNT_TOKEN = "rtk-acct-token-0c4d8e6f1a"

ACCOUNT_WORDS = ["Acme", "Beta", "Cobalt", "Delta", "Ember", "Fjord", "Granite",
                 "Harbor", "Iris", "Juniper"]
ACCOUNT_SUFFIXES = ["Media", "Labs", "Studios", "Systems", "Group", "Works"]
APP_WORDS = ["town-hall", "classroom", "support-desk", "webinar", "standup",
             "telehealth", "interviews", "livestream", "podcast", "sandbox"]
HOOK_WORDS = ["recordings", "analytics", "billing", "chat archive", "audit",
              "transcripts", "slack relay", "crm sync", "alerts", "summaries"]
HOSTS = ["hooks.acme.example", "api.example.com", "ingest.example.net",
         "old-host.example.com", "events.example.org", "relay.example.io"]
PATHS = ["/hooks/rtk", "/webhook", "/v1/events", "/cf/realtime", "/ingest", "/"]

EPOCH = datetime(2021, 1, 1, tzinfo=timezone.utc)
SPAN_MS = 4 * 365 * 24 * 3600 * 1000


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _time(rng: random.Random, after: datetime = EPOCH) -> datetime:
    span = max(1, SPAN_MS - int((after - EPOCH).total_seconds() * 1000))
    return after + timedelta(milliseconds=rng.randrange(span))


def _webhook(rng: random.Random, i: int, app_created: datetime) -> dict:
    created = _time(rng, app_created)
    updated = created if rng.random() < 0.3 else _time(rng, created)
    scheme = "http" if rng.random() < 0.05 else "https"
    url = f"{scheme}://{rng.choice(HOSTS)}{rng.choice(PATHS)}"
    if rng.random() < 0.3:
        url += f"?hook={i}"
    roll = rng.random()
    if roll < 0.05:
        events = []
    elif roll < 0.15:
        events = list(EVENTS)
    else:
        events = rng.sample(EVENTS, rng.randint(1, 4))
    return {"id": _uuid4(rng), "name": f"{rng.choice(HOOK_WORDS)} {i}", "url": url,
            "events": events, "enabled": rng.random() < 0.8,
            "created_at": format_time(created), "updated_at": format_time(updated)}


def generate(accounts: int, apps: int, webhooks: int, seed: int,
             apps_max_per_page: int | None = None) -> dict:
    """A fixture dict: `apps` apps per account, `webhooks` webhooks per app."""
    rng = random.Random(seed)
    out_accounts = []
    for a in range(accounts):
        created_on = _time(rng)
        account = {"id": "%032x" % rng.getrandbits(128),
                   "name": f"{ACCOUNT_WORDS[a % len(ACCOUNT_WORDS)]} "
                           f"{rng.choice(ACCOUNT_SUFFIXES)}"
                           + (f" {a // len(ACCOUNT_WORDS) + 1}" if a >= len(ACCOUNT_WORDS)
                              else ""),
                   "type": "enterprise" if rng.random() < 0.2 else "standard",
                   "created_on": format_time(created_on), "apps": []}
        for p in range(apps):
            app_created = _time(rng, created_on)
            account["apps"].append({
                "id": _uuid4(rng), "name": f"{rng.choice(APP_WORDS)}-{p + 1}",
                "created_at": format_time(app_created),
                "webhooks": [_webhook(rng, w + 1, app_created) for w in range(webhooks)]})
        out_accounts.append(account)
    tokens = [{"value": USER_TOKEN, "kind": "user", "status": "active", "accounts": "*"}]
    if out_accounts:
        tokens.append({"value": ACCOUNT_TOKEN, "kind": "account",
                       "account": out_accounts[0]["id"], "status": "active"})
    settings = {"accounts_max_per_page": 50}
    if apps_max_per_page is not None:
        settings["apps_max_per_page"] = apps_max_per_page
    return {"tokens": tokens, "settings": settings, "accounts": out_accounts}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=2)
    ap.add_argument("--apps", type=int, default=5, help="apps per account")
    ap.add_argument("--webhooks", type=int, default=10, help="webhooks per app")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--apps-max-per-page", type=int)
    args = ap.parse_args(argv)
    fixture = generate(args.accounts, args.apps, args.webhooks, args.seed,
                       args.apps_max_per_page)
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
