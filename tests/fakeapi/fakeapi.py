"""A fake Cloudflare Realtime Kit API for the rtkfs test suites.

It keeps state (writes change what later GETs return), speaks both envelopes
(Realtime Kit `{"success", "data"}` and v4 `{"success", "errors", "messages",
"result"}`), serves pages, enforces a per-token rate limit, logs every API
request and injects faults on demand.  Standard library only.

    with FakeAPI("tests/fixtures/demo.json") as api:
        api.add_fault("status", path=r"/webhooks$", status=503, count=1)
        ...                      # point rtkfs at api.url
        assert api.count("GET", r"/accounts/.*/webhooks") == 2

See README.md beside this file for the fixture format, the fault kinds and the
HTTP control endpoints (/__fake/*) used when the server runs as a process.
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import json
import math
import random
import re
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

EVENTS = [
    "meeting.started",
    "meeting.ended",
    "meeting.participantJoined",
    "meeting.participantLeft",
    "meeting.chatSynced",
    "recording.statusUpdate",
    "livestreaming.statusUpdate",
    "meeting.transcript",
    "meeting.summary",
]

WEBHOOK_WRITABLE = ("name", "url", "events", "enabled")

DEFAULT_SETTINGS = {
    "apps_max_per_page": 100,
    "accounts_max_per_page": 50,
    "rate_limit": [1200, 300],
    "legacy_ratelimit_headers": False,
}

API_PREFIX = "/client/v4"
CONTROL_PREFIX = "/__fake"
MAX_REQUEST_BODY = 8 * 1024 * 1024

UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
RTK_PATH_RE = re.compile(r"/accounts/[^/]+/realtime/kit(/.*)?")

FAULT_PARAMS = {
    "status": {"status", "retry_after", "body", "headers"},
    "latency": {"ms"},
    "hang": set(),
    "drip": {"interval_ms"},
    "reset": set(),
    "truncate": set(),
    "malformed": set(),
    "wrong_shape": set(),
    "oversized": {"size"},
    "deep_nesting": {"depth"},
    "hostile_ids": set(),
    "redirect": {"location"},
    "paging_repeat": {"total"},
    "paging_endless": {"total"},
}
FAULT_REQUIRED = {"status": {"status"}, "latency": {"ms"}, "redirect": {"location"}}
# Kinds that transform the real response, so the real handler always runs.
FAULTS_ON_REAL_REPLY = {"drip", "truncate", "hostile_ids", "paging_repeat",
                        "paging_endless"}
# What api.down(mode) does with the API: the listening socket closed, or every request
# read and logged and then dropped (closed unanswered) or hung until api.up().
OUTAGE_MODES = ("refuse", "drop", "hang")

HOSTILE_IDS = ["", ".", "..", "a/b", "nul\u0000id", "x" * 300, "../../etc"]


# --- time -------------------------------------------------------------------

def format_time(dt: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as the API writes it."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _now_ms() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def now_iso() -> str:
    return format_time(_now_ms())


def later_than(previous: str) -> str:
    """Now, or previous + 1 ms if the clock has not moved past it."""
    now, prev = _now_ms(), parse_time(previous)
    if now <= prev:
        now = prev + timedelta(milliseconds=1)
    return format_time(now)


# --- envelopes ----------------------------------------------------------------

@dataclass
class Reply:
    """A response before it is written: a JSON object or raw bytes."""
    status: int
    obj: object = None
    body: bytes | None = None
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is not None:
            return self.body
        if self.obj is None:
            return b""
        return json.dumps(self.obj).encode()


class ApiError(Exception):
    """Raised by handlers to answer with an error reply."""

    def __init__(self, reply: Reply):
        super().__init__(reply.status)
        self.reply = reply


def rtk_ok(data, status=200) -> Reply:
    return Reply(status, {"success": True, "data": data})


def rtk_error(status: int, message: str) -> ApiError:
    return ApiError(Reply(status, {"success": False,
                                   "error": {"code": status, "message": message}}))


def v4_ok(result, result_info=None) -> Reply:
    obj = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        obj["result_info"] = result_info
    return Reply(200, obj)


def v4_error(status: int, code: int, message: str) -> ApiError:
    return ApiError(Reply(status, {"success": False,
                                   "errors": [{"code": code, "message": message}],
                                   "messages": [], "result": None}))


def is_rtk_path(path: str) -> bool:
    return RTK_PATH_RE.fullmatch(path) is not None


def error_for_path(path: str, status: int, message: str, v4_code: int) -> ApiError:
    """An error in the envelope the endpoint family at `path` speaks."""
    if is_rtk_path(path):
        return rtk_error(status, message)
    return v4_error(status, v4_code, message)


# --- validation ----------------------------------------------------------------

def is_uuid(text: str) -> bool:
    return UUID_RE.fullmatch(text) is not None


def is_valid_url(value) -> bool:
    if not isinstance(value, str) or any(c.isspace() or ord(c) < 32 for c in value):
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(host)


def validate_webhook_body(body, required) -> None:
    """Joi-style checks of a webhook write body; raises the first 400."""
    def bad(message):
        return rtk_error(400, message)

    if not isinstance(body, dict):
        raise bad('"value" must be of type object')
    for key in required:
        if key not in body:
            raise bad(f'"{key}" is required')
    if "name" in body:
        if not isinstance(body["name"], str):
            raise bad('"name" must be a string')
        if body["name"] == "":
            raise bad('"name" is not allowed to be empty')
    if "url" in body:
        if not isinstance(body["url"], str):
            raise bad('"url" must be a string')
        if not is_valid_url(body["url"]):
            raise bad('"url" must be a valid uri')
    if "events" in body:
        if not isinstance(body["events"], list):
            raise bad('"events" must be an array')
        for i, event in enumerate(body["events"]):
            if event not in EVENTS:
                raise bad(f'"events[{i}]" must be one of [{", ".join(EVENTS)}]')
    if "enabled" in body and not isinstance(body["enabled"], bool):
        raise bad('"enabled" must be a boolean')
    for key in body:
        if key not in WEBHOOK_WRITABLE:
            raise bad(f'"{key}" is not allowed')


# --- the store ------------------------------------------------------------------

def token_id(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest()


class Store:
    """Accounts, apps, webhooks and tokens.  Not locked: FakeAPI holds the lock."""

    def __init__(self, fixture: dict):
        self.settings = dict(DEFAULT_SETTINGS)
        self.settings.update(fixture.get("settings", {}))
        self.tokens = {}
        for tok in fixture.get("tokens", []):
            tok = dict(tok)
            tok.setdefault("kind", "user")
            tok.setdefault("status", "active")
            tok.setdefault("id", token_id(tok["value"]))
            if tok["kind"] == "user":
                tok.setdefault("accounts", "*")
            elif tok["kind"] != "account" or "account" not in tok:
                raise ValueError(f"bad token in fixture: {tok!r}")
            self.tokens[tok["value"]] = tok
        self.accounts = {}
        for acc in fixture.get("accounts", []):
            apps = {}
            for app in acc.get("apps", []):
                hooks = {}
                for hook in app.get("webhooks", []):
                    hook = normalize_webhook(hook)
                    hooks[hook["id"]] = hook
                apps[app["id"]] = {"id": app["id"], "name": app["name"],
                                   "created_at": app.get("created_at") or now_iso(),
                                   "webhooks": hooks}
            self.accounts[acc["id"]] = {
                "id": acc["id"], "name": acc["name"],
                "type": acc.get("type", "standard"),
                "created_on": acc.get("created_on") or now_iso(),
                "apps": apps,
            }

    # Views: what the API shows of each object.
    @staticmethod
    def account_view(acc: dict) -> dict:
        return {"id": acc["id"], "name": acc["name"], "type": acc["type"],
                "created_on": acc["created_on"],
                "settings": {"enforce_twofactor": False}}

    @staticmethod
    def app_view(app: dict) -> dict:
        return {"id": app["id"], "name": app["name"], "created_at": app["created_at"]}

    def visible_accounts(self, token: dict) -> list:
        if token["kind"] == "account":
            ids = [token["account"]]
        elif token["accounts"] == "*":
            return list(self.accounts.values())
        else:
            ids = token["accounts"]
        return [self.accounts[a] for a in ids if a in self.accounts]

    @staticmethod
    def token_allows(token: dict, account_id: str) -> bool:
        if token["kind"] == "account":
            return token["account"] == account_id
        return token["accounts"] == "*" or account_id in token["accounts"]

    def app(self, account_id: str, app_id: str) -> dict:
        """The app record; KeyError if the account or app is unknown."""
        return self.accounts[account_id]["apps"][app_id]

    def dump(self) -> dict:
        return {
            "settings": copy.deepcopy(self.settings),
            "tokens": copy.deepcopy(list(self.tokens.values())),
            "accounts": [
                {**{k: v for k, v in acc.items() if k != "apps"},
                 "apps": [{**self.app_view(app),
                           "webhooks": copy.deepcopy(list(app["webhooks"].values()))}
                          for app in acc["apps"].values()]}
                for acc in self.accounts.values()],
        }


def normalize_webhook(hook: dict) -> dict:
    """A full seven-field webhook from a partial one (fixture or test data)."""
    created = hook.get("created_at") or now_iso()
    return {
        "id": hook.get("id") or str(uuid.uuid4()),
        "name": hook.get("name", "webhook"),
        "url": hook.get("url", "https://example.com/hook"),
        "events": list(hook.get("events", [])),
        "enabled": hook.get("enabled", True),
        "created_at": created,
        "updated_at": hook.get("updated_at") or created,
    }


# --- rate limiting -------------------------------------------------------------

class RateLimiter:
    """A fixed window per token, opened by the token's first request."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self.buckets = {}

    def take(self, key: str) -> tuple[bool, int, int]:
        """Count one request: (allowed, remaining, seconds until the reset)."""
        now = time.monotonic()
        start, count = self.buckets.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        count += 1
        self.buckets[key] = (start, count)
        # The epsilon keeps float noise from turning 300 s into 301.
        reset_in = max(1, math.ceil(self.window - (now - start) - 1e-6))
        return count <= self.limit, max(0, self.limit - count), reset_in


def _in_window(entry: dict, since, until) -> bool:
    t = entry["time"]
    return (since is None or t >= since) and (until is None or t <= until)


def _num(x):
    return int(x) if float(x).is_integer() else x


# --- faults ----------------------------------------------------------------------

@dataclass
class Fault:
    id: int
    kind: str
    path: str | None
    method: str | None
    count: int | None
    skip: int
    phase: str
    params: dict
    seen: int = 0
    applied: int = 0
    # Set when the fault is removed or the server stops: hung requests end.
    released: threading.Event = field(default_factory=threading.Event)

    def public(self) -> dict:
        return {"id": self.id, "kind": self.kind, "path": self.path,
                "method": self.method, "count": self.count, "skip": self.skip,
                "phase": self.phase, "seen": self.seen, "applied": self.applied,
                **self.params}


# --- requests ---------------------------------------------------------------------

@dataclass
class Request:
    method: str
    path: str            # prefix stripped, still percent-encoded, no query
    segments: list       # path split on "/" and percent-decoded
    query: dict
    headers: dict        # lowercase names
    raw_body: bytes
    token: str | None    # the bearer token, if any

    def json_body(self):
        """The parsed body; 400 (Realtime Kit shape) if it is not JSON."""
        try:
            return json.loads(self.raw_body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise rtk_error(400, '"value" must be valid JSON') from None

    def logged_body(self):
        if not self.raw_body:
            return None
        text = self.raw_body.decode("utf-8", errors="replace")
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text


ROUTES = [
    (("user", "tokens", "verify"), {"GET": "user_verify"}),
    (("accounts",), {"GET": "list_accounts"}),
    (("accounts", "{account}", "tokens", "verify"), {"GET": "account_verify"}),
    (("accounts", "{account}", "realtime", "kit", "apps"),
     {"GET": "list_apps", "POST": "create_app"}),
    (("accounts", "{account}", "realtime", "kit", "{app}", "webhooks"),
     {"GET": "list_webhooks", "POST": "create_webhook"}),
    (("accounts", "{account}", "realtime", "kit", "{app}", "webhooks", "{webhook}"),
     {"GET": "get_webhook", "PUT": "replace_webhook", "PATCH": "edit_webhook",
      "DELETE": "delete_webhook"}),
]


def match_route(segments: list):
    """(methods, params) of the route matching the path, or None."""
    for pattern, methods in ROUTES:
        if len(pattern) != len(segments):
            continue
        params = {}
        for want, got in zip(pattern, segments):
            if want.startswith("{"):
                if not got:
                    break
                params[want[1:-1]] = got
            elif want != got:
                break
        else:
            return methods, params
    return None


# --- the server --------------------------------------------------------------------

class FakeAPI:
    """The fake API: a store, a request log, faults, and an HTTP server.

    Every public method is thread-safe (one lock guards the store, the log and
    the faults).  Store accessors return deep copies.
    """

    def __init__(self, fixture, host: str = "127.0.0.1", port: int = 0,
                 latency_ms: float = 0, verbose: bool = False):
        if not isinstance(fixture, dict):
            fixture = json.loads(Path(fixture).read_text())
        self._lock = threading.RLock()
        self._store = Store(fixture)
        self._log = []
        self._faults = {}
        self._next_fault_id = 1
        self._latency_ms = latency_ms
        limit, window = self._store.settings["rate_limit"]
        self._rate = RateLimiter(limit, window)
        self._stopping = threading.Event()
        self._connections = set()
        self._conn_log = []          # monotonic times of accepted connections
        self._outage = None          # None or a mode of OUTAGE_MODES
        self._outage_over = threading.Event()
        self._outage_over.set()
        self._thread = None
        self.verbose = verbose
        self._server = _Server((host, port), _Handler, self)
        self.host = host
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"

    # --- lifecycle
    def start(self) -> "FakeAPI":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fakeapi:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hung, dripping and idle connections are closed."""
        self._stopping.set()
        with self._lock:
            for fault in self._faults.values():
                fault.released.set()
            self._outage_over.set()
        self._stop_listening()
        self.kill_connections()

    def _stop_listening(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    # --- outages
    def down(self, mode: str = "refuse") -> None:
        """Take the API down until up().

        refuse: the listening socket is closed (connects are refused; nothing can count
        them) and every open connection is closed. drop: connections are accepted, each
        request is read and logged (status None, "outage": "drop") and the connection is
        closed unanswered; open connections are closed too. hang: requests are read and
        logged, then never answered until up() or stop(); open connections stay.
        Control endpoints keep working in drop and hang modes.
        """
        self._down(mode, None)

    def _down(self, mode: str, keep) -> None:
        if mode not in OUTAGE_MODES:
            raise ValueError(f"outage mode must be one of {OUTAGE_MODES}, not {mode!r}")
        with self._lock:
            if self._outage is not None:
                raise ValueError(f"the API is already down ({self._outage})")
            self._outage = mode
            self._outage_over = threading.Event()
        if mode == "refuse":
            self._stop_listening()
        if mode in ("refuse", "drop"):
            self.kill_connections(keep)

    def up(self) -> None:
        """End an outage: after a refuse outage, listen again on the same host and port."""
        with self._lock:
            mode = self._outage
        if mode is None:
            return
        if mode == "refuse":
            end = time.monotonic() + 5
            while True:
                try:
                    self._server = _Server((self.host, self.port), _Handler, self)
                    break
                except OSError:
                    if time.monotonic() > end:
                        raise
                    time.sleep(0.05)
            self.start()
        with self._lock:
            self._outage = None
            self._outage_over.set()

    def restart(self, down_s: float = 0.0) -> None:
        """Kill the server (listener and connections) and start it again on the same port;
        the store, log, faults and rate-limit windows survive, as a restart behind a load
        balancer that keeps state would."""
        self.down("refuse")
        if down_s > 0:
            time.sleep(down_s)
        self.up()

    @property
    def outage(self) -> str | None:
        """The current outage mode, or None while the API is up."""
        with self._lock:
            return self._outage

    def kill_connections(self, _keep=None) -> int:
        """Shut down every open client connection (in the middle of a transfer too);
        returns how many. The listener is untouched."""
        with self._lock:
            conns = [c for c in self._connections if c is not _keep]
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(conns)

    def connections(self, since: float | None = None, until: float | None = None) -> int:
        """How many TCP connections were accepted in [since, until] (time.monotonic())."""
        with self._lock:
            return sum(1 for t in self._conn_log
                       if (since is None or t >= since) and (until is None or t <= until))

    def __enter__(self) -> "FakeAPI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- request log
    @property
    def log(self) -> "RequestLogView":
        """The same log as an object: api.log.requests(), .count(), .clear()."""
        return RequestLogView(self)

    def requests(self, since: float | None = None, until: float | None = None) -> list:
        """A snapshot of the log: one dict per API request, oldest first; with since or
        until, only those that arrived in [since, until] (time.monotonic())."""
        with self._lock:
            return copy.deepcopy([e for e in self._log if _in_window(e, since, until)])

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def count(self, method: str | None = None, path: str | None = None,
              since: float | None = None, until: float | None = None) -> int:
        """How many logged requests have this method and a path fullmatching `path`
        (and arrived in [since, until], time.monotonic(), if given)."""
        with self._lock:
            return sum(1 for e in self._log
                       if (method is None or e["method"] == method.upper())
                       and (path is None or re.fullmatch(path, e["path"]))
                       and _in_window(e, since, until))

    # --- store access
    def accounts(self) -> list:
        with self._lock:
            return [{k: v for k, v in a.items() if k != "apps"}
                    for a in copy.deepcopy(list(self._store.accounts.values()))]

    def apps(self, account: str) -> list:
        """The account's apps in store (fixture, then creation) order."""
        with self._lock:
            return [Store.app_view(a)
                    for a in self._store.accounts[account]["apps"].values()]

    def webhooks(self, account: str, app: str) -> list:
        with self._lock:
            return copy.deepcopy(list(self._store.app(account, app)["webhooks"].values()))

    def webhook(self, account: str, app: str, webhook_id: str) -> dict | None:
        with self._lock:
            hook = self._store.app(account, app)["webhooks"].get(webhook_id)
            return copy.deepcopy(hook)

    def state(self) -> dict:
        """The whole store, tokens and settings included."""
        with self._lock:
            return self._store.dump()

    def add_app(self, account: str, app: dict) -> dict:
        with self._lock:
            rec = {"id": app.get("id") or str(uuid.uuid4()),
                   "name": app.get("name", "app"),
                   "created_at": app.get("created_at") or now_iso(),
                   "webhooks": {}}
            for hook in app.get("webhooks", []):
                hook = normalize_webhook(hook)
                rec["webhooks"][hook["id"]] = hook
            self._store.accounts[account]["apps"][rec["id"]] = rec
            return Store.app_view(rec)

    def add_webhook(self, account: str, app: str, hook: dict) -> dict:
        """Store a webhook (missing fields filled in) and return it."""
        with self._lock:
            hook = normalize_webhook(hook)
            self._store.app(account, app)["webhooks"][hook["id"]] = hook
            return copy.deepcopy(hook)

    def delete_webhook(self, account: str, app: str, webhook_id: str) -> dict | None:
        with self._lock:
            return self._store.app(account, app)["webhooks"].pop(webhook_id, None)

    def set_webhook_field(self, account: str, app: str, webhook_id: str,
                          name: str, value) -> dict:
        """Change one field behind the client's back; bumps updated_at."""
        with self._lock:
            hook = self._store.app(account, app)["webhooks"][webhook_id]
            hook[name] = copy.deepcopy(value)
            if name != "updated_at":
                hook["updated_at"] = later_than(hook["updated_at"])
            return copy.deepcopy(hook)

    def random_change(self, rng=None) -> str:
        """One random change (soak tests); returns what it did."""
        if not isinstance(rng, random.Random):
            rng = random.Random(rng)
        with self._lock:
            apps = [(acc["id"], app) for acc in self._store.accounts.values()
                    for app in acc["apps"].values()]
            if not apps:
                return "nothing to change"
            account, app = rng.choice(apps)
            hooks = app["webhooks"]
            action = rng.choice(["enabled", "url", "add", "delete"] if hooks else ["add"])
            where = f"{account}/{app['id']}"
            if action == "add":
                hook = normalize_webhook({
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "name": f"soak hook {rng.randrange(10**6)}",
                    "url": f"https://soak{rng.randrange(100)}.example.com/hook",
                    "events": rng.sample(EVENTS, rng.randint(0, len(EVENTS))),
                    "enabled": rng.random() < 0.8})
                hooks[hook["id"]] = hook
                return f"add webhook {where}/{hook['id']}"
            hook = hooks[rng.choice(sorted(hooks))]
            if action == "delete":
                del hooks[hook["id"]]
                return f"delete webhook {where}/{hook['id']}"
            if action == "enabled":
                hook["enabled"] = not hook["enabled"]
                change = f"enabled={str(hook['enabled']).lower()}"
            else:
                hook["url"] = f"https://changed{rng.randrange(10**6)}.example.com/hook"
                change = f"url={hook['url']}"
            hook["updated_at"] = later_than(hook["updated_at"])
            return f"set {change} on webhook {where}/{hook['id']}"

    # --- knobs
    def set_latency(self, ms: float) -> None:
        with self._lock:
            self._latency_ms = ms

    def set_rate_limit(self, n: int, window_s: float) -> None:
        """New limit; every token's window starts afresh."""
        with self._lock:
            self._store.settings["rate_limit"] = [n, window_s]
            self._rate = RateLimiter(n, window_s)

    def rate_limit_reset(self) -> None:
        with self._lock:
            self._rate.buckets.clear()

    def set_settings(self, **settings) -> None:
        """Change fixture settings at runtime (apps_max_per_page, ...)."""
        with self._lock:
            if "rate_limit" in settings:
                self.set_rate_limit(*settings.pop("rate_limit"))
            self._store.settings.update(settings)

    # --- faults
    def add_fault(self, kind: str, path: str | None = None, method: str | None = None,
                  count: int | None = None, skip: int = 0, phase: str = "before",
                  **params) -> int:
        """Inject `kind` into matching requests; returns the fault id.

        Matches when `method` (if given) equals the request's and
        re.search(path, request path) (if given); lets `skip` matches through,
        then applies to `count` matches (None: until removed).
        """
        if kind not in FAULT_PARAMS:
            raise ValueError(f"unknown fault kind {kind!r}")
        unknown = set(params) - FAULT_PARAMS[kind]
        missing = FAULT_REQUIRED.get(kind, set()) - set(params)
        if unknown or missing:
            raise ValueError(f"fault {kind!r}: unknown params {sorted(unknown)}, "
                             f"missing params {sorted(missing)}")
        if phase not in ("before", "after"):
            raise ValueError(f"phase must be 'before' or 'after', not {phase!r}")
        if path is not None:
            re.compile(path)
        with self._lock:
            fault = Fault(self._next_fault_id, kind, path,
                          method.upper() if method else None, count, skip, phase, params)
            self._next_fault_id += 1
            self._faults[fault.id] = fault
            return fault.id

    def remove_fault(self, fault_id: int) -> None:
        with self._lock:
            fault = self._faults.pop(fault_id, None)
        if fault:
            fault.released.set()

    def clear_faults(self) -> None:
        with self._lock:
            faults, self._faults = self._faults, {}
        for fault in faults.values():
            fault.released.set()

    def faults(self) -> list:
        with self._lock:
            return [f.public() for f in self._faults.values()]

    # --- used by the request handler
    def _match_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults.values():
                if fault.method and fault.method != method:
                    continue
                if fault.path is not None and not re.search(fault.path, path):
                    continue
                if fault.count is not None and fault.applied >= fault.count:
                    continue
                fault.seen += 1
                if fault.seen <= fault.skip:
                    continue
                fault.applied += 1
                return fault
            return None

    def _log_request(self, req: Request) -> dict:
        headers = {k: ("<redacted>" if k == "authorization" else v)
                   for k, v in req.headers.items()}
        entry = {"method": req.method, "path": req.path, "query": dict(req.query),
                 "body": req.logged_body(), "status": None,
                 "authorization": "authorization" in req.headers,
                 "headers": headers, "time": time.monotonic(), "outage": None}
        with self._lock:
            entry["outage"] = self._outage
            self._log.append(entry)
        return entry

    def _outage_wait(self) -> threading.Event | None:
        """The event that ends the current outage (None while up)."""
        with self._lock:
            return None if self._outage is None else self._outage_over

    def _set_status(self, entry: dict, status: int) -> None:
        with self._lock:
            entry["status"] = status

    def _take_rate(self, req: Request) -> tuple[bool, list]:
        """Count the request against its token; (allowed, rate-limit headers)."""
        with self._lock:
            allowed, remaining, reset_in = self._rate.take(req.token or "")
            limit, window = self._rate.limit, _num(self._rate.window)
            legacy = self._store.settings.get("legacy_ratelimit_headers")
        if legacy:
            headers = [("x-ratelimit-limit", str(limit)),
                       ("x-ratelimit-remaining", str(remaining)),
                       ("x-ratelimit-reset", formatdate(time.time() + reset_in,
                                                        usegmt=True))]
        else:
            headers = [("Ratelimit", f'"default";r={remaining};t={reset_in}'),
                       ("Ratelimit-Policy", f'"burst";q={limit};w={window}')]
        if not allowed:
            headers.append(("retry-after", str(reset_in)))
        return allowed, headers

    def _rate_limited_error(self) -> ApiError:
        with self._lock:
            limit, window = self._rate.limit, _num(self._rate.window)
        return v4_error(429, 971, f"More than {limit} requests per {window} seconds "
                        "reached. Please wait and consider throttling your request speed")

    def _latency(self) -> float:
        with self._lock:
            return self._latency_ms

    def _sleep(self, ms: float) -> bool:
        """Sleep unless the server stops first; True if it is stopping."""
        return self._stopping.wait(ms / 1000) if ms > 0 else self._stopping.is_set()

    # --- the API proper
    def _dispatch(self, req: Request) -> Reply:
        """The real response to an API request (auth, routing, handler)."""
        try:
            with self._lock:
                token = self._authenticate(req)
                route = match_route(req.segments)
                if route is None:
                    raise error_for_path(req.path, 404, "Error: route not found"
                                         if is_rtk_path(req.path) else
                                         f"Could not route to {req.path}, perhaps "
                                         "your object identifier is invalid?", 7003)
                methods, params = route
                if req.method not in methods:
                    err = error_for_path(req.path, 405, "Method not allowed", 10405)
                    err.reply.headers["Allow"] = ", ".join(methods)
                    raise err
                handler = getattr(self, "_api_" + methods[req.method])
                return handler(req, token, **params)
        except ApiError as e:
            return e.reply

    def _authenticate(self, req: Request) -> dict | None:
        """The request's active token; 401 otherwise.  Verify endpoints check
        for themselves (their answer depends on the token kind)."""
        token = self._store.tokens.get(req.token) if req.token else None
        if req.segments[-2:] == ["tokens", "verify"]:
            return token
        if token is None:
            raise v4_error(401, 10000, "Authentication error")
        self._check_token_status(token, 10000)
        return token

    @staticmethod
    def _check_token_status(token: dict, code: int) -> None:
        if token["status"] == "disabled":
            raise v4_error(401, code, "Invalid API Token: the token is disabled")
        if token["status"] == "expired":
            raise v4_error(401, code, "Invalid API Token: the token has expired")
        if token["status"] != "active":
            raise v4_error(401, code, "Invalid API Token")

    def _verified(self, token: dict | None, kind: str, account: str | None = None) -> Reply:
        if token is None or token["kind"] != kind or (
                account is not None and token["account"] != account):
            raise v4_error(401, 1000, "Invalid API Token")
        self._check_token_status(token, 1000)
        return v4_ok({"id": token["id"], "status": token["status"]})

    def _api_user_verify(self, req, token):
        return self._verified(token, "user")

    def _api_account_verify(self, req, token, account):
        return self._verified(token, "account", account)

    def _account(self, req: Request, token: dict, account_id: str) -> dict:
        acc = self._store.accounts.get(account_id)
        if acc is None:
            raise error_for_path(req.path, 404, "Error: account not found", 7003)
        if not Store.token_allows(token, account_id):
            raise v4_error(403, 10000, "Authentication error")
        return acc

    def _app(self, req, token, account_id: str, app_id: str) -> dict:
        app = self._account(req, token, account_id)["apps"].get(app_id)
        if app is None:
            raise rtk_error(404, "Error: app not found")
        return app

    def _webhook(self, req, token, account_id, app_id, webhook_id) -> tuple[dict, dict]:
        self._account(req, token, account_id)
        if not is_uuid(webhook_id):
            raise rtk_error(400, '"id" must be a valid GUID')
        app = self._app(req, token, account_id, app_id)
        hook = app["webhooks"].get(webhook_id)
        if hook is None:
            raise rtk_error(404, "Error: resource not found")
        return app, hook

    @staticmethod
    def _int_query(req: Request, name: str, default: int, error) -> int:
        text = req.query.get(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise error(f'"{name}" must be a number') from None
        if value < 1:
            raise error(f'"{name}" must be greater than or equal to 1')
        return value

    def _api_list_accounts(self, req, token):
        def bad(message):
            return v4_error(400, 1001, message)
        page = self._int_query(req, "page", 1, bad)
        per_page = self._int_query(req, "per_page", 20, bad)
        per_page = min(max(per_page, 5), 50, self._store.settings["accounts_max_per_page"])
        accounts = self._store.visible_accounts(token)
        chunk = accounts[(page - 1) * per_page:page * per_page]
        return v4_ok([Store.account_view(a) for a in chunk], {
            "page": page, "per_page": per_page, "count": len(chunk),
            "total_count": len(accounts),
            "total_pages": math.ceil(len(accounts) / per_page)})

    def _api_list_apps(self, req, token, account):
        def bad(message):
            return rtk_error(400, message)
        acc = self._account(req, token, account)
        page = self._int_query(req, "page_no", 1, bad)
        per_page = min(self._int_query(req, "per_page", 20, bad),
                       self._store.settings["apps_max_per_page"])
        order = req.query.get("sort_order", "DESC").upper()
        if order not in ("ASC", "DESC"):
            raise bad('"sort_order" must be one of [ASC, DESC]')
        apps = list(acc["apps"].values())
        search = req.query.get("search")
        if search:
            apps = [a for a in apps if search.lower() in a["name"].lower()]
        apps.sort(key=lambda a: (a["created_at"], a["id"]), reverse=(order == "DESC"))
        start = (page - 1) * per_page
        chunk = apps[start:start + per_page]
        total = len(apps)
        if chunk:
            paging = {"start_offset": start + 1, "end_offset": start + len(chunk),
                      "total_count": total}
        else:
            paging = {"start_offset": total, "end_offset": total, "total_count": total}
        reply = rtk_ok([Store.app_view(a) for a in chunk])
        reply.obj["paging"] = paging
        return reply

    def _api_create_app(self, req, token, account):
        acc = self._account(req, token, account)
        body = req.json_body()
        if not isinstance(body, dict):
            raise rtk_error(400, '"value" must be of type object')
        name = body.get("name")
        if "name" not in body:
            raise rtk_error(400, '"name" is required')
        if not isinstance(name, str):
            raise rtk_error(400, '"name" must be a string')
        if not name:
            raise rtk_error(400, '"name" is not allowed to be empty')
        app = {"id": str(uuid.uuid4()), "name": name, "created_at": now_iso(),
               "webhooks": {}}
        acc["apps"][app["id"]] = app
        return rtk_ok({"app": Store.app_view(app)})

    def _api_list_webhooks(self, req, token, account, app):
        hooks = self._app(req, token, account, app)["webhooks"]
        return rtk_ok(copy.deepcopy(list(hooks.values())))

    def _api_create_webhook(self, req, token, account, app):
        rec = self._app(req, token, account, app)
        body = req.json_body()
        validate_webhook_body(body, required=("name", "url", "events"))
        now = now_iso()
        hook = {"id": str(uuid.uuid4()), "name": body["name"], "url": body["url"],
                "events": body["events"], "enabled": body.get("enabled", True),
                "created_at": now, "updated_at": now}
        rec["webhooks"][hook["id"]] = hook
        return rtk_ok(copy.deepcopy(hook), status=201)

    def _api_get_webhook(self, req, token, account, app, webhook):
        _, hook = self._webhook(req, token, account, app, webhook)
        return rtk_ok(copy.deepcopy(hook))

    def _api_replace_webhook(self, req, token, account, app, webhook):
        _, hook = self._webhook(req, token, account, app, webhook)
        body = req.json_body()
        validate_webhook_body(body, required=("name", "url", "events"))
        hook.update(name=body["name"], url=body["url"], events=body["events"],
                    enabled=body.get("enabled", True),
                    updated_at=later_than(hook["updated_at"]))
        return rtk_ok(copy.deepcopy(hook))

    def _api_edit_webhook(self, req, token, account, app, webhook):
        _, hook = self._webhook(req, token, account, app, webhook)
        body = req.json_body()
        validate_webhook_body(body, required=())
        hook.update(copy.deepcopy(body))
        hook["updated_at"] = later_than(hook["updated_at"])
        return rtk_ok(copy.deepcopy(hook))

    def _api_delete_webhook(self, req, token, account, app, webhook):
        rec, hook = self._webhook(req, token, account, app, webhook)
        del rec["webhooks"][hook["id"]]
        return rtk_ok(hook)

    # --- canned fault replies
    def _fault_reply(self, fault: Fault, req: Request, real: Reply | None) -> Reply:
        p, path = fault.params, req.path
        if fault.kind == "status":
            status = int(p["status"])
            if p.get("body") is not None:
                reply = Reply(status, body=str(p["body"]).encode())
            else:
                reply = error_for_path(path, status, f"injected {status}", 1000 + status).reply
            if p.get("retry_after") is not None:
                reply.headers["retry-after"] = str(p["retry_after"])
            for name, value in (p.get("headers") or {}).items():
                reply.headers[str(name)] = str(value)
            return reply
        if fault.kind == "malformed":
            return Reply(200, body=b"<html><body>502 Bad Gateway</body></html>",
                         content_type="text/html")
        if fault.kind == "wrong_shape":
            if not is_rtk_path(path):
                return Reply(200, {"success": True, "result": "string", "errors": [],
                                   "messages": []})
            if match_route(req.segments) and len(req.segments) == 7:
                return Reply(200, {"success": True, "data": ["unexpected", "array"]})
            return Reply(200, {"success": True, "data": {"unexpected": "object"}})
        if fault.kind == "deep_nesting":
            depth = int(p.get("depth", 100000))
            return Reply(200, body=b"[" * depth + b"]" * depth)
        if fault.kind == "redirect":
            return Reply(302, body=b"", headers={"Location": p["location"]})
        if fault.kind == "hostile_ids":
            return add_hostile_ids(real, req)
        if fault.kind in ("paging_repeat", "paging_endless"):
            return hostile_page(fault, req, real)
        raise AssertionError(f"no canned reply for fault kind {fault.kind}")


def add_hostile_ids(reply: Reply, req: Request) -> Reply:
    """The listing `reply` plus objects with ids no filesystem should trust."""
    obj = reply.obj
    if reply.status != 200 or not isinstance(obj, dict):
        return reply
    route = match_route(req.segments)
    name = route[0].get(req.method) if route else None
    now = now_iso()

    def make(i, hid):
        base = {"name": f"hostile {i}"}
        if name == "list_accounts":
            base.update(type="standard", created_on=now,
                        settings={"enforce_twofactor": False})
        elif name == "list_apps":
            base.update(created_at=now)
        else:
            base.update(url=f"https://hostile{i}.example.com/", events=["meeting.started"],
                        enabled=True, created_at=now, updated_at=now)
        if hid is not ...:
            base["id"] = hid
        return base

    extras = [make(i, hid) for i, hid in enumerate(HOSTILE_IDS + [..., 12345, None])]
    obj = copy.deepcopy(obj)
    if name == "list_accounts" and isinstance(obj.get("result"), list):
        obj["result"].extend(extras)
    elif name in ("list_apps", "list_webhooks") and isinstance(obj.get("data"), list):
        obj["data"].extend(extras)
    else:
        return reply
    return Reply(reply.status, obj, headers=reply.headers)


def hostile_page(fault: Fault, req: Request, real: Reply) -> Reply:
    """An apps page that never lets a client finish: page N of paging_repeat holds the
    same app every time, page N of paging_endless holds an app no other page has (id
    derived from N); both claim `total` apps (1000000). Other requests: the real reply."""
    route = match_route(req.segments)
    if not route or route[0].get(req.method) != "list_apps" or real.status != 200:
        return real
    try:
        page = max(1, int(req.query.get("page_no", "1")))
        per_page = max(1, int(req.query.get("per_page", "20")))
    except ValueError:
        return real
    n = 1 if fault.kind == "paging_repeat" else page
    app = {"id": str(uuid.UUID(int=0x0b0b << 112 | n)), "name": f"hostile page app {n}",
           "created_at": "2024-01-01T00:00:00.000Z"}
    start = (page - 1) * per_page + 1
    obj = {"success": True, "data": [app],
           "paging": {"start_offset": start, "end_offset": start,
                      "total_count": int(fault.params.get("total", 1000000))}}
    return Reply(200, obj, headers=dict(real.headers))


class RequestLogView:
    """api.log: the request log under shorter names."""

    def __init__(self, fake: FakeAPI):
        self._fake = fake

    def requests(self, since: float | None = None, until: float | None = None) -> list:
        return self._fake.requests(since, until)

    def count(self, method: str | None = None, path: str | None = None,
              since: float | None = None, until: float | None = None) -> int:
        return self._fake.count(method, path, since, until)

    def clear(self) -> None:
        self._fake.clear_log()


# --- HTTP plumbing -------------------------------------------------------------------

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, fake: FakeAPI):
        self.fake = fake
        super().__init__(address, handler)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if not isinstance(exc, (BrokenPipeError, ConnectionResetError,
                                ConnectionAbortedError, TimeoutError)):
            super().handle_error(request, client_address)


class _ClientGone(Exception):
    pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body go out in two writes; with Nagle on, a reused connection waits ~40 ms
    # for the delayed ACK before the body. The real API does not; neither should the fake.
    disable_nagle_algorithm = True

    def version_string(self):
        return "fakeapi"

    fake: FakeAPI

    def setup(self):
        super().setup()
        self.fake = self.server.fake
        with self.fake._lock:
            self.fake._connections.add(self.connection)
            self.fake._conn_log.append(time.monotonic())

    def finish(self):
        with self.fake._lock:
            self.fake._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format, *args):
        if self.fake.verbose:
            sys.stderr.write("fakeapi: " + (format % args) + "\n")

    def handle_one_request(self):
        self.entry, self.rl_headers = None, []
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, _ClientGone):
            self.close_connection = True
        except ValueError:
            # The base class flushes wfile after the method; _reset closed it.
            if not self.wfile.closed:
                raise
            self.close_connection = True

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    # --- reading
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BODY:
                    raise ValueError("request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BODY:
            raise ValueError("request body too large")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise _ClientGone()
        return body

    def _parse(self) -> Request:
        parts = urlsplit(self.path)
        path = parts.path
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            path = path[len(API_PREFIX):] or "/"
        headers = {k.lower(): v for k, v in self.headers.items()}
        token = None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
        return Request(self.command, path,
                       [unquote(s) for s in path[1:].split("/")],
                       dict(parse_qsl(parts.query, keep_blank_values=True)),
                       headers, self._read_body(), token)

    # --- serving
    def _serve(self):
        try:
            req = self._parse()
        except ValueError as e:
            self.close_connection = True
            status = 413 if "too large" in str(e) else 400
            self._write(Reply(status, {"success": False,
                                       "error": {"code": status, "message": str(e)}}))
            return
        if req.path == CONTROL_PREFIX or req.path.startswith(CONTROL_PREFIX + "/"):
            self._write(self._control(req))
            return
        fake = self.fake
        self.entry = fake._log_request(req)
        if self.entry["outage"] is not None:
            over = fake._outage_wait()
            if self.entry["outage"] == "hang" and over is not None:
                over.wait()
            return self._drop()
        allowed, self.rl_headers = fake._take_rate(req)
        if fake._sleep(fake._latency()):
            return self._drop()
        if not allowed:
            return self._write(fake._rate_limited_error().reply)
        fault = fake._match_fault(req.method, req.path)
        if fault and fault.phase == "before" and fault.kind not in FAULTS_ON_REAL_REPLY:
            if fault.kind != "latency":
                return self._serve_fault(fault, req, None)
            if fake._sleep(fault.params["ms"]):
                return self._drop()
            fault = None
        try:
            reply = fake._dispatch(req)
        except Exception:
            traceback.print_exc()
            reply = error_for_path(req.path, 500, "fakeapi internal error", 1500).reply
        if fault and fault.kind == "latency":
            if fake._sleep(fault.params["ms"]):
                return self._drop()
        elif fault:
            return self._serve_fault(fault, req, reply)
        self._write(reply)

    def _serve_fault(self, fault: Fault, req: Request, reply: Reply | None):
        kind = fault.kind
        if kind == "hang":
            fault.released.wait()
            return self._drop()
        if kind == "reset":
            return self._reset()
        if kind == "oversized":
            return self._write_oversized(int(fault.params.get("size", 64 << 20)))
        if kind == "drip":
            return self._write(reply, drip_ms=fault.params.get("interval_ms", 1000))
        if kind == "truncate":
            return self._write(reply, truncate=True)
        self._write(self.fake._fault_reply(fault, req, reply))

    def _send_head(self, status: int, content_type: str, length: int, headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.entry is not None:
            self.fake._set_status(self.entry, status)

    def _write(self, reply: Reply, drip_ms: float | None = None, truncate=False) -> None:
        body = reply.encode()
        if self.command == "HEAD" or reply.status in (204, 304):
            body = b""
        # A reply's own header (an injected Ratelimit, say) replaces the limiter's.
        own = {name.lower() for name in reply.headers}
        headers = [(n, v) for n, v in self.rl_headers if n.lower() not in own]
        headers += list(reply.headers.items())
        self._send_head(reply.status, reply.content_type, len(body), headers)
        if truncate:
            self.wfile.write(body[:len(body) // 2])
            self.close_connection = True
        elif drip_ms is not None:
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                if i + 1 < len(body) and self.fake._sleep(drip_ms):
                    self.close_connection = True
                    return
        else:
            self.wfile.write(body)

    def _write_oversized(self, size: int) -> None:
        head, tail = b'{"success":true,"data":"', b'"}'
        size = max(size, len(head) + len(tail))
        self._send_head(200, "application/json", size, self.rl_headers)
        self.wfile.write(head)
        left = size - len(head) - len(tail)
        chunk = b"x" * 65536
        while left > 0:
            if self.fake._stopping.is_set():
                self.close_connection = True
                return
            n = min(left, len(chunk))
            self.wfile.write(chunk[:n])
            left -= n
        self.wfile.write(tail)

    def _drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True

    def _reset(self) -> None:
        """Close the connection with a TCP RST (SO_LINGER 0, no FIN first)."""
        self.close_connection = True
        conn = self.connection
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self.fake._lock:
            self.fake._connections.discard(conn)
        self.wfile.close()
        self.rfile.close()
        conn.close()

    # --- control endpoints (no auth, not logged)
    def _control(self, req: Request) -> Reply:
        fake, what = self.fake, (req.method, req.path[len(CONTROL_PREFIX):])
        try:
            body = json.loads(req.raw_body or b"{}")
        except ValueError:
            return Reply(400, {"error": "body is not JSON"})
        try:
            if what == ("GET", "/log"):
                return Reply(200, fake.requests())
            if what == ("POST", "/log/clear"):
                fake.clear_log()
                return Reply(200, {"ok": True})
            if what == ("GET", "/count"):
                return Reply(200, {"count": fake.count(req.query.get("method") or None,
                                                       req.query.get("path") or None)})
            if what == ("POST", "/faults"):
                params = dict(body)
                return Reply(200, {"id": fake.add_fault(params.pop("kind"), **params)})
            if what == ("GET", "/faults"):
                return Reply(200, fake.faults())
            if what == ("DELETE", "/faults"):
                fake.clear_faults()
                return Reply(200, {"ok": True})
            m = re.fullmatch(r"/faults/(\d+)", what[1])
            if m and req.method == "DELETE":
                fake.remove_fault(int(m.group(1)))
                return Reply(200, {"ok": True})
            if what == ("POST", "/latency"):
                fake.set_latency(body["ms"])
                return Reply(200, {"ok": True})
            if what == ("POST", "/rate_limit"):
                fake.set_rate_limit(body["n"], body["window"])
                return Reply(200, {"ok": True})
            if what == ("POST", "/rate_limit/reset"):
                fake.rate_limit_reset()
                return Reply(200, {"ok": True})
            if what == ("POST", "/settings"):
                fake.set_settings(**body)
                return Reply(200, {"ok": True})
            if what == ("POST", "/down"):
                mode = body.get("mode", "drop")
                if mode == "refuse":
                    raise ValueError("a refuse outage cannot be ended over HTTP; "
                                     "use drop or hang")
                fake._down(mode, self.connection)
                return Reply(200, {"ok": True})
            if what == ("POST", "/up"):
                fake.up()
                return Reply(200, {"ok": True})
            if what == ("GET", "/connections"):
                return Reply(200, {"count": fake.connections()})
            if what == ("GET", "/state"):
                return Reply(200, fake.state())
            if what == ("POST", "/random_change"):
                return Reply(200, {"change": fake.random_change(body.get("seed"))})
        except (AttributeError, KeyError, TypeError, ValueError, re.error) as e:
            return Reply(400, {"error": f"{type(e).__name__}: {e}"})
        return Reply(404, {"error": f"no control endpoint {req.method} {req.path}"})


# --- a sink for redirect tests ----------------------------------------------------------

class Sink:
    """A second listener that records what reaches it and answers 200 {}.

    A redirect fault pointing here shows whether the client followed the
    redirect and whether it carried the Authorization header along.
    """

    def __init__(self, host: str = "127.0.0.2", port: int = 0):
        sink = self
        self._lock = threading.Lock()
        self._requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                names = sorted({k.lower() for k in self.headers.keys()})
                with sink._lock:
                    sink._requests.append({"method": self.command, "path": self.path,
                                           "headers": names,
                                           "authorization": "authorization" in names})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

        self._server = _Server((host, port), Handler, None)
        self.host = host
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = None

    def start(self) -> "Sink":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def requests(self) -> list:
        with self._lock:
            return copy.deepcopy(self._requests)

    def __enter__(self) -> "Sink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
