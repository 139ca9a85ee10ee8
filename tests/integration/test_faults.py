# SPDX-License-Identifier: MIT
"""The fault matrix (issue 3): every fault the fake API can inject × every everyday tool.

Each cell injects one fault on the webhooks listing of one app of its own (its ancestors,
the account and the apps listing, are already cached; the webhooks listing is cold), runs
one tool against that app, and checks:

  - the documented result (DESIGN §5): what the tool prints (`ls: cannot access '...':
    Protocol error`), its exit status, or for hostile ids a correct listing without them;
  - that it came within the deadline + 2 s;
  - that the fake API really saw the fault (and, for redirects, that the second listener
    never saw a request carrying an Authorization header);
  - that the daemon is still running;
  - that once the fault is removed the same tool on the same app gives the right answer
    (polling: an error is remembered by the cache for 1 s and an ENOENT by the kernel for
    the TTL).

The cells run in parallel threads, each on its own app so that they cannot see each other's
faults, most of them on one mount; 429, hang and reset cells get a mount each, since a 429
pauses the whole mount and failures without any HTTP answer put it in degraded mode. The
matrix is printed at the end of
the pytest run (and written to fault-matrix.txt in the test's tmp dir).
"""
import concurrent.futures
import errno
import os
import re
import sys
import time

import pytest

from conftest import ROOT, run

sys.path.insert(0, str(ROOT / "tests" / "fakeapi"))
from genfixture import generate  # noqa: E402

TIMEOUT = 3          # -o timeout: the deadline of every operation
SLACK = 2            # the matrix allows deadline + 2 s
TTL = 2              # short, so that a kernel negative entry (404) ages out quickly
RETRY_AFTER = TIMEOUT + 3   # a 429 whose retry-after is past the deadline: EAGAIN

WORKERS = 24         # cells at once (two CPUs here; each cell runs a tool or two)

OPS = ["ls", "stat", "cat", "grep -r", "find"]

# fault name → (fake API kind, params, expected errno or None for "success without them")
FAULTS = {
    "400": ("status", {"status": 400}, errno.EINVAL),
    "401": ("status", {"status": 401}, errno.EACCES),
    "403": ("status", {"status": 403}, errno.EACCES),
    "404": ("status", {"status": 404}, errno.ENOENT),
    "429": ("status", {"status": 429, "retry_after": RETRY_AFTER}, errno.EAGAIN),
    "500": ("status", {"status": 500}, errno.EIO),
    "502": ("status", {"status": 502}, errno.EIO),
    "503": ("status", {"status": 503}, errno.EIO),
    "hang": ("hang", {}, errno.ETIMEDOUT),
    "drip": ("drip", {"interval_ms": 1000}, errno.ETIMEDOUT),
    "reset": ("reset", {}, errno.EIO),
    "truncated": ("truncate", {}, errno.EIO),
    "non-JSON": ("malformed", {}, errno.EPROTO),
    "wrong shape": ("wrong_shape", {}, errno.EPROTO),
    "oversized": ("oversized", {"size": 20 << 20}, errno.EPROTO),
    "deep nesting": ("deep_nesting", {"depth": 100000}, errno.EPROTO),
    "hostile ids": ("hostile_ids", {}, None),
    "redirect": ("redirect", {}, errno.EPROTO),
}

# Faults tested on a mount of their own (see test_fault_matrix).
SOLO = {"429", "hang", "reset"}
# The exit status of each tool when it could not read what it was asked to.
TOOL_FAIL_STATUS = {"ls": 2, "stat": 1, "cat": 1, "grep -r": 2, "find": 1}
ERRNAME = errno.errorcode


class Cell:
    def __init__(self, fault, op):
        self.fault, self.op = fault, op
        self.ok = False
        self.summary = "not run"
        self.problems = []

    def fail(self, what):
        self.problems.append(what)


def run_op(op, mnt, account, app, hook):
    """Run one tool on the app's part of the tree: (CompletedProcess, elapsed seconds)."""
    appdir = f"{mnt}/accounts/{account}/apps/{app}"
    argv = {
        "ls": ["ls", f"{appdir}/webhooks"],
        "stat": ["stat", f"{appdir}/webhooks"],
        "cat": ["cat", f"{appdir}/webhooks/{hook['id']}/url"],
        "grep -r": ["grep", "-rF", hook["url"], appdir],
        "find": ["find", appdir],
    }[op]
    t0 = time.monotonic()
    p = run(argv, timeout=TIMEOUT + 30)
    return p, time.monotonic() - t0


def check_success(op, p, mnt, account, app, hooks):
    """Problems with a run that should have shown the app's real webhooks (and only them)."""
    appdir = f"{mnt}/accounts/{account}/apps/{app}"
    ids = {h["id"] for h in hooks}
    hook = hooks[0]
    if p.returncode != 0:
        return [f"{op} exited {p.returncode}: {p.stderr.strip()[:200]}"]
    if op == "ls":
        got = set(p.stdout.split())
        if got != ids:
            return [f"ls listed {sorted(got - ids)} extra, {sorted(ids - got)} missing"]
    elif op == "stat":
        if "directory" not in p.stdout:
            return [f"stat: not a directory: {p.stdout[:200]}"]
    elif op == "cat":
        if p.stdout != hook["url"] + "\n":
            return [f"cat printed {p.stdout!r}, want {hook['url']!r}"]
    elif op == "grep -r":
        want = f"{appdir}/webhooks/{hook['id']}/url:{hook['url']}"
        if want not in p.stdout.splitlines():
            return [f"grep -r did not print {want!r}: {p.stdout[:300]!r}"]
    elif op == "find":
        prefix = f"{appdir}/webhooks/"
        got = {line[len(prefix):] for line in p.stdout.splitlines()
               if line.startswith(prefix) and "/" not in line[len(prefix):]}
        if got != ids:
            return [f"find listed {sorted(got - ids)} extra, {sorted(ids - got)} missing"]
    return []


def check_error(op, p, expected):
    msg = os.strerror(expected)
    tool = op.split()[0]
    problems = []
    if p.returncode != TOOL_FAIL_STATUS[op]:
        problems.append(f"exit {p.returncode}, want {TOOL_FAIL_STATUS[op]}")
    if not re.search(rf"^{tool}: .*: {re.escape(msg)}$", p.stderr, re.M):
        problems.append(f"printed {p.stderr.strip()[:200]!r}, want '{tool}: ...: {msg}'")
    if op == "ls" and "cannot access" not in p.stderr:
        problems.append("ls did not say 'cannot access'")
    return problems


def webhooks_path(account, app):
    return rf"^/accounts/{account}/realtime/kit/{app}/webhooks$"


def run_cell(cell, api, m, account, app, sink):
    """One cell, start to end; fills cell.ok / cell.summary / cell.problems."""
    kind, params, expected = FAULTS[cell.fault]
    hooks = api.webhooks(account, app)
    params = dict(params)
    if kind == "redirect":
        params["location"] = f"{sink.url}/accounts/{account}/realtime/kit/{app}/webhooks"
    fid = api.add_fault(kind, path=webhooks_path(account, app), **params)
    t_fault = time.monotonic()
    p, elapsed = run_op(cell.op, m.mnt, account, app, hooks[0])
    applied = next((f["applied"] for f in api.faults() if f["id"] == fid), 0)
    api.remove_fault(fid)

    if expected is None:
        cell.problems += check_success(cell.op, p, m.mnt, account, app, hooks)
        got = "ok" if not cell.problems else "WRONG"
    else:
        cell.problems += check_error(cell.op, p, expected)
        got = ERRNAME.get(expected, "?") if not cell.problems else "WRONG"
    if elapsed > TIMEOUT + SLACK:
        cell.fail(f"took {elapsed:.1f} s (deadline {TIMEOUT} s + {SLACK})")
    if applied < 1 and cell.fault != "429":
        cell.fail("the fake API never applied the fault")
    if m.proc.poll() is not None:
        cell.fail(f"the daemon died (exit {m.proc.returncode})")
        cell.summary = f"{got} {elapsed:.1f}s DEAD"
        return

    # The clean request: the same tool on the same app, once the remembered error is gone.
    end = time.monotonic() + TTL + RETRY_AFTER + 5
    while True:
        p2, _ = run_op(cell.op, m.mnt, account, app, hooks[0])
        after = check_success(cell.op, p2, m.mnt, account, app, hooks)
        if not after or time.monotonic() > end:
            break
        time.sleep(0.1)
    if after:
        cell.fail("after the fault was removed: " + "; ".join(after))
    if m.proc.poll() is not None:
        cell.fail(f"the daemon died after the clean request (exit {m.proc.returncode})")
    cell.t_fault = t_fault
    cell.ok = not cell.problems
    cell.summary = f"{got if cell.ok else 'FAIL'} {elapsed:.1f}s"


class MatrixReport:
    """A plugin registered at run time: prints the matrix in pytest's terminal summary,
    so that it survives output capture and scripts/test's tail."""

    def __init__(self):
        self.lines = []

    def pytest_terminal_summary(self, terminalreporter):
        if self.lines:
            terminalreporter.write_sep("=", "fault matrix (issue 3)")
            for line in self.lines:
                terminalreporter.write_line(line)


@pytest.fixture
def report(request):
    r = MatrixReport()
    request.config.pluginmanager.register(r, "rtkfs-fault-matrix")
    return r


def format_matrix(cells):
    w0 = max(len(f) for f in FAULTS) + 2
    w = 16
    lines = ["fault".ljust(w0) + "".join(op.ljust(w) for op in OPS),
             "-" * (w0 + w * len(OPS))]
    for fault in FAULTS:
        expected = FAULTS[fault][2]
        label = f"{fault}".ljust(w0)
        lines.append(label + "".join(cells[(fault, op)].summary.ljust(w) for op in OPS)
                     + f"  (want {ERRNAME[expected] if expected else 'listing without them'})")
    bad = [c for c in cells.values() if not c.ok]
    lines.append(f"{len(cells) - len(bad)}/{len(cells)} cells as documented; "
                 f"deadline {TIMEOUT} s, limit {TIMEOUT + SLACK} s per cell")
    for c in bad:
        lines.append(f"  {c.fault} × {c.op}: " + "; ".join(c.problems))
    return lines


def test_fault_matrix(make_api, mount, sink, tmp_path, report):
    opts = {"timeout": TIMEOUT, "ttl": TTL, "prefetch": 0}
    cells = {(f, op): Cell(f, op) for f in FAULTS for op in OPS}

    # One fake API, one account, an app per cell.
    api = make_api(generate(accounts=1, apps=len(cells), webhooks=3, seed=3))
    account = api.accounts()[0]["id"]
    apps = [a["id"] for a in api.apps(account)]
    app_of = dict(zip(cells, apps))

    # Most cells share one mount. The others get a mount each: a 429 pauses every request
    # of its mount (DESIGN §4), and a few failures in a row with no HTTP answer at all
    # (hang, reset) put a mount in degraded mode, where the next cells would fail at once
    # without asking the server; each of those is tested on its own.
    m = mount(api, options=opts)
    assert sorted(os.listdir(m / f"accounts/{account}/apps")) == sorted(apps)
    jobs = []
    for key, c in cells.items():
        if c.fault in SOLO:
            mm = mount(api, options=opts)
            os.listdir(mm / f"accounts/{account}/apps")
            jobs.append((c, api, mm, account, app_of[key]))
    # The solo cells first: the 429 ones wait longest (for their pause to end).
    jobs += [(c, api, m, account, app_of[key]) for key, c in cells.items()
             if c.fault not in SOLO]
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futs = {pool.submit(run_cell, c, a, mm, acc, app, sink): c
                for c, a, mm, acc, app in jobs}
        for fut in concurrent.futures.as_completed(futs):
            exc = fut.exception()
            if exc is not None:
                futs[fut].fail(f"the cell raised {exc!r}")
                futs[fut].summary = "ERROR"

    # A 429 with a retry-after past the deadline: one request, then nothing until it ends.
    for c, a, mm, acc, app in jobs:
        if c.fault != "429":
            continue
        log = [e for e in a.requests() if re.search(webhooks_path(acc, app), e["path"])]
        first429 = next((e for e in log if e["status"] == 429), None)
        if first429 is None:
            c.fail("the fake API never answered 429")
        else:
            early = [e for e in log if e is not first429
                     and first429["time"] <= e["time"] < first429["time"] + RETRY_AFTER]
            if early:
                c.fail(f"{len(early)} request(s) sent during the {RETRY_AFTER} s pause")
        c.ok = not c.problems
        c.summary = c.summary if c.ok else "FAIL " + c.summary.split()[-1]

    # The redirect target never saw the token (nor any request: redirects are not followed).
    with_auth = [r for r in sink.requests() if r.get("authorization")]
    if with_auth or sink.requests():
        for op in OPS:
            cells[("redirect", op)].fail(
                f"the other host got {len(sink.requests())} request(s), "
                f"{len(with_auth)} with an Authorization header")
            cells[("redirect", op)].ok = False

    lines = format_matrix(cells)
    (tmp_path / "fault-matrix.txt").write_text("\n".join(lines) + "\n")
    report.lines = lines
    print("\n".join(lines))
    assert m.proc.poll() is None
    bad = [f"{c.fault} × {c.op}: {'; '.join(c.problems)}" for c in cells.values() if not c.ok]
    assert not bad, "\n".join(bad)
