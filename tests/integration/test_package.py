# SPDX-License-Identifier: MIT
"""The Debian package: `dpkg-buildpackage -us -uc -b` in a copy of the tree builds a .deb
without lintian errors; it installs with apt-get, holds the binary, the man page, the
systemd units (pointing at /usr/bin/rtkfs) and the example fstab; the INSTALLED binary mounts
the fake API; and the package is purged again whatever happened.

Needs root, dpkg-buildpackage and apt-get (CI has them); runs once, in the plain pass: the
sanitizer passes (RTKFS_BUILD=build-asan, build-tsan) skip it, since it builds its own binary.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, ROOT, render, run

A = "023e105f4ecef8ad9ca31a8372d0c353"
P = "cfc2ffe4-ed22-41f1-ad33-ce50dcfe4bcc"
INSTALLED = Path("/usr/bin/rtkfs")
SYSTEM_UNIT = "/lib/systemd/system/rtkfs@.service"
USER_UNIT = "/usr/lib/systemd/user/rtkfs.service"
FILES = ["/usr/bin/rtkfs", "/usr/share/man/man1/rtkfs.1.gz", SYSTEM_UNIT, USER_UNIT,
         "/usr/share/doc/rtkfs/examples/fstab.example", "/usr/share/doc/rtkfs/copyright"]
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def why_not():
    """Why this machine cannot run the package test, or None."""
    if BUILD.resolve() != (ROOT / "build").resolve():
        return (f"RTKFS_BUILD={BUILD} is not build/: the package test builds its own binary "
                "and runs once, in the plain pass")
    if os.geteuid() != 0:
        return "not root: installing a package needs root"
    for tool in ("dpkg-buildpackage", "apt-get", "dpkg"):
        if not shutil.which(tool):
            return f"{tool} is not installed (apt-get install dpkg-dev debhelper)"
    if run(["dpkg-query", "-W", "rtkfs"]).returncode == 0 or INSTALLED.exists():
        return "rtkfs is already installed here: this test would replace and remove it"
    return None


def source_files():
    """The files of the tree as git sees them (tracked, and new ones not ignored)."""
    r = run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"])
    assert r.returncode == 0, f"git ls-files: {r.stderr}"
    return [f for f in r.stdout.split("\0") if f and (ROOT / f).is_file()]


def copy_tree(dst):
    for rel in source_files():
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst / rel)


def project_version():
    return re.search(r"version\s*:\s*'([^']+)'", (ROOT / "meson.build").read_text()).group(1)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """The built .deb (a path in a temporary directory, nothing left in the tree)."""
    reason = why_not()
    if reason:
        pytest.skip("SKIPPED LOUDLY: " + reason)
    if not shutil.which("git") or not (ROOT / ".git").exists():
        pytest.skip(f"SKIPPED LOUDLY: {ROOT} is not a git checkout (git ls-files names the "
                    "files to build from)")
    top = tmp_path_factory.mktemp("deb")
    src = top / "rtkfs"
    copy_tree(src)
    r = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, timeout=600)
    assert r.returncode == 0, f"dpkg-buildpackage failed:\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
    debs = sorted(top.glob("rtkfs_*.deb"))
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    assert [d.name for d in debs] == [f"rtkfs_{project_version()}_{arch}.deb"], debs
    return debs[0]


@pytest.fixture(scope="module")
def installed(deb):
    """The package installed with apt-get; purged at the end even when a test failed."""
    try:
        r = run(["apt-get", "install", "-y", "--no-install-recommends", f"./{deb.name}"],
                cwd=deb.parent, timeout=300, env=APT_ENV)
        assert r.returncode == 0, f"apt-get install failed:\n{r.stdout}{r.stderr}"
        yield deb
    finally:
        r = run(["apt-get", "purge", "-y", "rtkfs"], timeout=300, env=APT_ENV)
        assert r.returncode == 0, f"apt-get purge failed:\n{r.stdout}{r.stderr}"
        assert run(["dpkg-query", "-W", "rtkfs"]).returncode != 0, "rtkfs is still installed"
        assert not INSTALLED.exists(), f"{INSTALLED} is still there after the purge"


def test_lintian_finds_no_errors(deb):
    if not shutil.which("lintian"):
        pytest.skip("SKIPPED LOUDLY: lintian is not installed (apt-get install lintian)")
    r = run(["lintian", "--fail-on", "error", str(deb)], timeout=300)
    assert r.returncode == 0, f"lintian (exit {r.returncode}):\n{r.stdout}{r.stderr}"
    assert not re.search(r"^E: ", r.stdout, re.M), r.stdout


def test_package_holds_binary_man_page_units_and_examples(installed):
    r = run(["dpkg", "-L", "rtkfs"])
    assert r.returncode == 0, r.stderr
    listed = set(r.stdout.split())
    missing = [f for f in FILES if f not in listed]
    assert not missing, f"dpkg -L rtkfs does not list {missing}:\n{r.stdout}"
    for unit in (SYSTEM_UNIT, USER_UNIT):
        text = Path(unit).read_text()
        assert "ExecStart=/usr/bin/rtkfs -f " in text, f"{unit}:\n{text}"
        assert "/usr/local/bin" not in text, f"{unit} still names /usr/local/bin:\n{text}"
    depends = run(["dpkg-query", "-W", "-f", "${Depends}", "rtkfs"]).stdout
    for dep in ("fuse3", "libfuse3-3", "libcurl4", "libcjson1"):
        assert re.search(rf"(^|, ){dep}\b", depends), f"Depends lacks {dep}: {depends}"
    version = run([str(INSTALLED), "--version"])
    assert version.returncode == 0 and version.stdout.startswith(f"rtkfs {project_version()}\n")
    # The user unit is there for users to enable; the package enables it for nobody.
    assert not list(Path("/etc/systemd/user").glob("*/rtkfs.service"))


def test_installed_binary_mounts_the_fake_api(installed, api, mount):
    m = mount(api, binary=INSTALLED)
    hook = api.webhooks(A, P)[0]
    r = subprocess.run(["cat", f"accounts/{A}/apps/{P}/webhooks/{hook['id']}/url"],
                       cwd=m.path(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == render(hook["url"])
    assert m.proc.args[0] == str(INSTALLED)
