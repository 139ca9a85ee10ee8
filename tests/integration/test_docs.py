# SPDX-License-Identifier: MIT
"""The documentation matches the program: the man page and --help name the same options with
the same defaults, the man page renders without warnings, `meson install` installs the binary
and the man page, --version prints what meson and the libraries say, README starts with the
two commands, and the systemd units pass `systemd-analyze verify`."""
import json
import os
import re
import shutil

import pytest

from conftest import BINARY, BUILD, ROOT, run

MAN = ROOT / "doc" / "rtkfs.1"
README = ROOT / "README.md"
UNITS = ROOT / "contrib" / "systemd"

pytestmark = pytest.mark.nomount


def need_binary():
    if not BINARY.exists():
        pytest.skip(f"SKIPPED LOUDLY: {BINARY} is not built")


def help_text():
    need_binary()
    r = run([str(BINARY), "--help"])
    assert r.returncode == 0, r.stderr
    return r.stdout


def rtkfs_section(text):
    """The 'rtkfs options:' block of --help, up to the blank line that ends it."""
    m = re.search(r"^rtkfs options:\n(.*?)\n\n", text, re.S | re.M)
    assert m, "--help has no 'rtkfs options:' section:\n" + text
    return m.group(1)


def o_names(text):
    """Names of the -o options in text: 'ttl' of '-o ttl=SECONDS', 'x-*' of '-o x-*'."""
    return set(re.findall(r"(?<![\w-])-o\s+([A-Za-z_][\w.-]*\*?)", text))


def dash_options(text):
    return set(re.findall(r"(?<![\w\\-])(--?[A-Za-z][\w-]*)", text))


def man_source_section(name):
    src = MAN.read_text()
    m = re.search(r"^\.SH " + re.escape(name) + r"\n(.*?)(?=^\.SH |\Z)", src, re.S | re.M)
    assert m, f"the man page has no {name} section"
    return m.group(1)


def man_plain(troff):
    """Troff source as words: font escapes dropped, \\- as -, requests' quotes dropped."""
    t = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", troff)
    t = t.replace("\\-", "-").replace("\\(em", "--").replace("\\e", "\\")
    t = re.sub(r"^\.(?:[A-Z]{1,2})\s*", "", t, flags=re.M)   # .B, .BI, .TP, .IR ...
    return t.replace('"', "")


def man_options():
    return man_plain(man_source_section("OPTIONS"))


def help_defaults(section):
    """{option: default text} for the options of the rtkfs section that name a default."""
    out = {}
    for m in re.finditer(r"-o ([a-z_]+)[^\n]*(?:\n(?! +-o)[^\n]*)*", section):
        entry = " ".join(m.group(0).split())
        d = re.search(r"\(default: (.*?)\)", entry)
        if d:
            out[m.group(1)] = d.group(1)
    return out


def test_every_help_option_is_in_the_man_page():
    section = rtkfs_section(help_text())
    names = o_names(section)
    assert {"ttl", "stale", "timeout", "rate", "prefetch", "max_body", "base_url",
            "token_file", "account", "cacert", "ro"} <= names
    missing = names - o_names(man_options())
    assert not missing, f"in --help but not in the man page's OPTIONS: {sorted(missing)}"


def test_every_man_page_option_is_in_help():
    text = help_text()
    opts = man_options()
    missing = o_names(opts) - o_names(text)
    assert not missing, f"in the man page's OPTIONS but not in --help: {sorted(missing)}"
    dashes = dash_options(opts) - {"-o"}
    assert {"-f", "-d", "-s", "-h", "--help", "-V", "--version"} <= dashes
    missing = dashes - dash_options(text)
    assert not missing, f"in the man page's OPTIONS but not in --help: {sorted(missing)}"


def test_defaults_agree():
    defaults = help_defaults(rtkfs_section(help_text()))
    assert set(defaults) >= {"ttl", "stale", "timeout", "rate", "prefetch", "max_body",
                             "base_url", "account"}
    opts = " ".join(man_options().split())
    for name, default in defaults.items():
        entry = re.search(r"-o " + name + r"\b.*?(?= -o [a-z_]+[= ]|\Z)", opts)
        assert entry, f"no entry for -o {name} in the man page"
        # The values in the default (numbers, N/N, $VARIABLES, URLs) must be there too.
        for value in re.findall(r"\$[A-Z_]+|https?://[^\s,)]+|\b\d+(?:/\d+)?\b", default):
            assert value in entry.group(0), (
                f"-o {name}: --help says the default is {default!r}, "
                f"the man page does not say {value!r}:\n{entry.group(0)}")


def test_man_page_sections():
    src = MAN.read_text()
    sections = re.findall(r"^\.SH (.*)$", src, re.M)
    for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "THE TREE",
              "FILE FORMATS", "CONTROL FILES", "WRITES", "ERRORS", "EXAMPLES", "FSTAB",
              "SYSTEMD", "FILES", "SEE ALSO"):
        assert s in sections, f"no {s} section in {MAN}"
    env = man_plain(man_source_section("ENVIRONMENT"))
    for var in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_BASE_URL",
                "CLOUDFLARE_API_BASE_URL"):
        assert re.search(r"^" + var + r"$", env, re.M), f"{var} is not in ENVIRONMENT"
    errors = man_source_section("ERRORS")
    for e in ("EINVAL", "EACCES", "ENOENT", "EEXIST", "EAGAIN", "EIO", "ETIMEDOUT",
              "ECONNREFUSED", "EHOSTUNREACH", "EPROTO", "EPERM"):
        assert e in errors, f"{e} is not in ERRORS"
    control = man_source_section("CONTROL FILES")
    for f in (".rtkfs/status", ".rtkfs/stats.json", ".rtkfs/ctl", "flush"):
        assert f in control
    see = man_plain(man_source_section("SEE ALSO"))
    assert "fusermount3 (1)" in see and "mount.fuse3 (8)" in see
    assert "user_allow_other" in src and "allow_other" in man_options()


def test_man_page_version_is_the_project_version():
    m = re.search(r"^\.TH RTKFS 1 \S+ \"rtkfs ([^\"]+)\"", MAN.read_text(), re.M)
    assert m, "the .TH line does not name the rtkfs version"
    assert m.group(1) == project_version()


def test_man_page_renders_without_warnings(tmp_path):
    if not shutil.which("man"):
        pytest.skip("SKIPPED LOUDLY: man is not installed (apt-get install man-db)")
    env = {k: v for k, v in os.environ.items() if k not in ("MANWIDTH", "COLUMNS")}
    # As `man --warnings -l doc/rtkfs.1 >/dev/null` runs it, then as a terminal of 80 columns.
    for width in (None, "80"):
        if width:
            env["MANWIDTH"] = width
        r = run(["man", "--warnings", "-l", str(MAN)], env=env)
        assert r.returncode == 0, r.stderr
        assert r.stderr == "", f"man --warnings (MANWIDTH={width}):\n{r.stderr}"
        assert "RTKFS(1)" in r.stdout and "token_file=PATH" in r.stdout


def meson_introspect(what):
    r = run(["meson", "introspect", str(BUILD), what])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def project_version():
    if shutil.which("meson") and (BUILD / "meson-info").exists():
        return meson_introspect("--projectinfo")["version"]
    m = re.search(r"version\s*:\s*'([^']+)'", (ROOT / "meson.build").read_text())
    return m.group(1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`meson install --destdir` of the build in use: (binary, man page) as installed."""
    if not shutil.which("meson") or not (BUILD / "meson-info").exists():
        pytest.skip(f"SKIPPED LOUDLY: no meson or no configured build in {BUILD}")
    destdir = tmp_path_factory.mktemp("destdir")
    r = run(["meson", "install", "-C", str(BUILD), "--no-rebuild", "--destdir", str(destdir)],
            timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    opts = {o["name"]: o["value"] for o in meson_introspect("--buildoptions")}
    prefix = opts["prefix"].lstrip("/")
    return (destdir / prefix / opts["bindir"] / "rtkfs",
            destdir / prefix / opts["mandir"] / "man1" / "rtkfs.1")


def test_meson_install(installed):
    binary, man = installed
    assert binary.is_file() and os.access(binary, os.X_OK), f"not installed: {binary}"
    assert man.is_file(), f"not installed: {man}"
    assert man.read_bytes() == MAN.read_bytes()
    r = run([str(binary), "--version"])
    assert r.returncode == 0 and r.stdout.startswith("rtkfs ")


def pkg_version(name):
    if not shutil.which("pkg-config"):
        return None
    r = run(["pkg-config", "--modversion", name])
    return r.stdout.strip() if r.returncode == 0 else None


def test_version():
    need_binary()
    r = run([str(BINARY), "--version"])
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert list(lines) == ["rtkfs", "libfuse", "libcurl", "cJSON"], r.stdout
    assert lines["rtkfs"] == project_version()
    for lib, pc in (("libfuse", "fuse3"), ("libcurl", "libcurl"), ("cJSON", "libcjson")):
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?\S*", lines[lib]), r.stdout
        # The library in use is the one it was built against (same Debian package).
        want = pkg_version(pc)
        if want:
            assert lines[lib] == want, f"{lib}: --version says {lines[lib]}, pkg-config {want}"
    assert run([str(BINARY), "-V"]).stdout == r.stdout


def test_readme_starts_with_demo_and_test():
    text = README.read_text()
    assert text.startswith("# rtkfs\n")
    m = re.search(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)
    assert m, "README.md has no code block"
    block = m.group(1)
    assert re.search(r"^scripts/demo\b", block, re.M), block
    assert re.search(r"^scripts/test\b", block, re.M), block
    for ref in ("SEMANTICS.md", "scripts/bench", "fstab", "systemd", "user_allow_other",
                ".rtkfs/ctl", "429"):
        assert ref in text, f"README.md does not mention {ref}"


@pytest.mark.parametrize("unit,user", [("rtkfs@.service", False),
                                       ("rtkfs-user.service", True)])
def test_systemd_units_verify(tmp_path, installed, unit, user):
    if not shutil.which("systemd-analyze"):
        pytest.skip("SKIPPED LOUDLY: systemd-analyze is not installed (apt-get install systemd)")
    src = (UNITS / unit).read_text()
    for key in ("ExecStart=/usr/local/bin/rtkfs -f ", "ExecStop=/bin/fusermount3 -u ",
                "Restart=on-failure", "After=network-online.target"):
        assert key in src, f"{unit} has no {key}"
    assert "token_file=" in src
    if not user:
        assert "LoadCredential=token:/etc/rtkfs/token" in src
        assert "token_file=${CREDENTIALS_DIRECTORY}/token" in src
    # Verify the unit as installed: the binary and the man page from `meson install`
    # (systemd-analyze checks that ExecStart= is executable and Documentation=man: exists).
    binary, man = installed
    name = "rtkfs@mnt-rtk.service" if unit.endswith("@.service") else unit
    (tmp_path / name).write_text(src.replace("/usr/local/bin/rtkfs", str(binary)))
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, MANPATH=str(man.parent.parent), XDG_RUNTIME_DIR=str(runtime),
               SYSTEMD_LOG_LEVEL="notice")
    cmd = ["systemd-analyze"] + (["--user"] if user else []) + ["verify", name]
    r = run(cmd, env=env, cwd=tmp_path, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), (
        f"{' '.join(cmd)} (exit {r.returncode}):\n{r.stdout}{r.stderr}")
