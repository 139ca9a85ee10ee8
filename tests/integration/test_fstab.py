# SPDX-License-Identifier: MIT
"""rtkfs as /etc/fstab and mount(8) run it: through mount.fuse3, which runs
`rtkfs [SOURCE] MOUNTPOINT -o OPTIONS` and lets rtkfs go to the background; and the options
fstab adds for itself. A daemon is found by its mount point in /proc/*/cmdline; the test
process is made a child subreaper for the test, so the daemon becomes its child and its exit
status can be checked. Nothing is left mounted and no daemon left running, even on failure.

The `mount -t fuse.rtkfs` and `mount MOUNTPOINT` (fstab) cases run in a private mount
namespace (unshare -m), because mount(8) clears PATH: the helper's /bin/sh looks for rtkfs
in its default PATH only, so the namespace gets the built rtkfs bind-mounted on
/usr/local/sbin, an fstab of its own, and a /dev/log that is a socket of this test, so that
the daemon's syslog lines can be checked too.
"""
import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BINARY, BUILD, TOKEN, Mount, run

A = "023e105f4ecef8ad9ca31a8372d0c353"
PR_SET_CHILD_SUBREAPER = 36
FSTAB_NOISE = "_netdev,nofail,x-systemd.automount,x-systemd.mount-timeout=30,comment=rtkfs-test"


def token_file(tmp_path, token=TOKEN):
    path = tmp_path / "token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def helper_env():
    """The environment mount.fuse3 is run with: no token, and the built rtkfs first in PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    env["PATH"] = f"{BUILD.resolve()}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def daemon_pids(mnt):
    """Pids of the rtkfs processes whose command line holds the mount point `mnt`."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"rtkfs" and str(mnt).encode() in argv:
            pids.append(int(d))
    return pids


def parent_of(pid):
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def wait_exit(pid, timeout):
    """The exit status of our child `pid` once it exits (or, if not our child, 0 once it is
    gone); None if it is still running after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            if not os.path.exists(f"/proc/{pid}"):
                return 0
        if time.monotonic() > end:
            return None
        time.sleep(0.05)


class Daemons:
    """Tracks the mount points of a test; at teardown unmounts them, stops every rtkfs daemon
    that serves them (SIGTERM, then SIGKILL), reaps it, and reports what was left."""

    def __init__(self):
        self.mounts = []
        self.leftovers = []

    def watch(self, mnt):
        self.mounts.append(Path(mnt))

    def cleanup(self):
        for mnt in self.mounts:
            if os.path.ismount(mnt):
                self.leftovers.append(f"{mnt} was still mounted")
                subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
            for pid in daemon_pids(mnt):
                if wait_exit(pid, 5) is not None:
                    continue
                self.leftovers.append(f"rtkfs (pid {pid}) serving {mnt} was still running")
                os.kill(pid, signal.SIGTERM)
                if wait_exit(pid, 10) is None:
                    os.kill(pid, signal.SIGKILL)
                    wait_exit(pid, 10)
            if os.path.ismount(mnt):
                subprocess.run(["fusermount3", "-uz", str(mnt)], capture_output=True)


@pytest.fixture
def daemons():
    libc = ctypes.CDLL(None, use_errno=True)
    subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    d = Daemons()
    try:
        yield d
    finally:
        d.cleanup()
        if subreaper:
            libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    assert not d.leftovers, "; ".join(d.leftovers)


def check_served(api, names):
    assert sorted(names) == sorted(a["id"] for a in api.accounts())
    # The token came from token_file, and the API took it.
    assert api.count("GET", "/user/tokens/verify") == 1
    # (a read-ahead may still be in flight: its status is not known yet)
    statuses = [(e["method"], e["path"], e["status"]) for e in api.requests()]
    assert all(st in (200, None) for _, _, st in statuses), statuses
    assert ("GET", "/user/tokens/verify", 200) in statuses, statuses
    assert api.count("GET", "/accounts") >= 1


def stop_daemon(mnt, pid, unmount):
    """Unmount with `unmount`, then the daemon must exit 0 and nothing be left mounted."""
    r = run(unmount)
    assert r.returncode == 0, r.stderr
    status = wait_exit(pid, 15)
    assert status is not None, f"rtkfs (pid {pid}) still runs after {unmount}"
    assert status == 0, f"rtkfs exited {status} after {unmount}"
    assert not os.path.ismount(mnt)
    assert daemon_pids(mnt) == []


# ---- mount.fuse3, as any user can run it ----

@pytest.mark.parametrize("what", ["rtkfs", "rtkfs#rtkfs"])
def test_mount_fuse3_daemonizes(api, tmp_path, daemons, what):
    """`mount.fuse3 rtkfs MNT` runs `rtkfs MNT -o ...`; `mount.fuse3 rtkfs#SOURCE MNT` (the
    old fstab form) runs `rtkfs SOURCE MNT -o ...`: both mount and go to the background."""
    if not shutil.which("mount.fuse3"):
        pytest.skip("SKIPPED LOUDLY: mount.fuse3 is not installed (apt-get install fuse3)")
    mnt = (tmp_path / "mnt").resolve()
    mnt.mkdir()
    daemons.watch(mnt)
    opts = f"token_file={token_file(tmp_path)},base_url={api.url},{FSTAB_NOISE}"
    r = run(["mount.fuse3", what, str(mnt), "-o", opts], env=helper_env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert TOKEN not in r.stdout + r.stderr
    assert os.path.ismount(mnt), "mount.fuse3 returned before the mount was there"
    pids = daemon_pids(mnt)
    assert len(pids) == 1, f"rtkfs daemons serving {mnt}: {pids}"
    pid = pids[0]
    assert parent_of(pid) == os.getpid(), "the daemon did not detach from mount.fuse3"
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert (b"rtkfs" in argv[1:-1]) == ("#" in what), argv
    check_served(api, os.listdir(mnt / "accounts"))
    stop_daemon(mnt, pid, ["fusermount3", "-u", str(mnt)])


def test_fstab_options_are_accepted_in_the_foreground(api, mount, tmp_path):
    """What fstab and mount(8) may pass, given to rtkfs by hand, with a source argument."""
    m = mount(api, token=None, args=["rtkfs"], options={
        "token_file": token_file(tmp_path), "_netdev": True, "nofail": True, "auto": True,
        "noauto": True, "user": True, "users": True, "nouser": True, "defaults": True,
        "comment": "systemd.automount", "x-systemd.automount": True,
        "x-systemd.idle-timeout": "60", "x-gvfs-show": True})
    assert len(os.listdir(m / "accounts")) == len(api.accounts())
    assert "unknown option" not in m.output()


def test_more_than_source_and_mountpoint_is_refused(api, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run([str(BINARY), "-f", "one", "two", str(mnt)],
            env=dict(helper_env(), CLOUDFLARE_API_TOKEN=TOKEN))
    assert r.returncode == 1
    assert "unexpected argument" in r.stderr and str(mnt) in r.stderr
    assert not os.path.ismount(mnt)
    assert api.count() == 0


def test_unknown_options_still_fail(api, tmp_path):
    """Only what fstab adds is ignored; a typo in an option is still an error."""
    m = Mount(api, tmp_path / "m", token=TOKEN, options={"tll": "5"})
    try:
        m.start(expect_mount=False)
        assert m.returncode not in (None, 0), m.output()
        assert "tll" in m.output()
    finally:
        m.stop()
    assert not os.path.ismount(m.mnt)


def test_foreground_logs_to_stderr(api, mount):
    m = mount(api)
    assert f"rtkfs: info: mounted '{api.url}' at '{os.path.realpath(m.mnt)}'" in m.output()


# ---- mount(8): -t fuse.rtkfs and /etc/fstab, in a private mount namespace ----

NAMESPACE_SCRIPT = r"""
set -eu
T=$1 MNT=$2
# A /dev of our own: the devices rtkfs and the tools need, and /dev/log = the test's socket.
mkdir -p "$T/olddev"
mount --bind /dev "$T/olddev"
mount -t tmpfs -o mode=0755,size=64k rtkfs-test-dev /dev
for n in null zero full random urandom tty fuse; do
	touch "/dev/$n"
	mount --bind "$T/olddev/$n" "/dev/$n"
done
ln -s /proc/self/fd /dev/fd
umount -l "$T/olddev"
touch /dev/log
mount --bind "$T/log.sock" /dev/log
# rtkfs where mount.fuse3's /bin/sh finds it with mount(8)'s cleared PATH.
mount --bind "$T/bin" /usr/local/sbin
# mount(8)'s own files: the test's fstab, and libmount's utab kept in here.
mount --bind "$T/fstab" /etc/fstab
mkdir -p /run/mount
mount -t tmpfs -o size=64k rtkfs-test-run /run/mount
if [ -n "${MOUNT_CMD:-}" ]; then eval "$MOUNT_CMD"; else mount "$MNT"; fi
grep " $MNT " /proc/self/mounts
ls "$MNT/accounts"
cat "$MNT/accounts"/*/name
# The test looks at the daemon now, then says go (bounded: 60 s).
touch "$T/ready"
i=0
while [ ! -e "$T/go" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
umount "$MNT"
! mountpoint -q "$MNT"
echo UNMOUNTED
"""


def unshare_works():
    return os.geteuid() == 0 and shutil.which("unshare") and run(
        ["unshare", "-m", "--propagation", "private", "true"]).returncode == 0


@pytest.mark.parametrize("how", ["mount -t fuse.rtkfs", "fstab"])
def test_mount_8_in_a_namespace(api, tmp_path, daemons, how):
    if not unshare_works():
        pytest.skip("SKIPPED LOUDLY: needs root and unshare -m (a private mount namespace)")
    if not shutil.which("mount.fuse3"):
        pytest.skip("SKIPPED LOUDLY: mount.fuse3 is not installed (apt-get install fuse3)")
    if not Path("/usr/local/sbin").is_dir():
        pytest.skip("SKIPPED LOUDLY: no /usr/local/sbin to put rtkfs in")
    t = tmp_path.resolve()
    mnt = t / "mnt"
    mnt.mkdir()
    daemons.watch(mnt)
    (t / "bin").mkdir()
    (t / "bin" / "rtkfs").symlink_to(BINARY.resolve())
    opts = f"token_file={token_file(t)},base_url={api.url},{FSTAB_NOISE}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    if how == "fstab":
        (t / "fstab").write_text(f"# test\nrtkfs {mnt} fuse.rtkfs {opts},noauto 0 0\n")
    else:
        (t / "fstab").write_text("# empty\n")
        env["MOUNT_CMD"] = f"mount -t fuse.rtkfs rtkfs {shlex.quote(str(mnt))} " \
                           f"-o {shlex.quote(opts)}"
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind(str(t / "log.sock"))
    log.setblocking(False)
    outf = open(t / "out", "w+")
    proc = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", NAMESPACE_SCRIPT,
         "ns", str(t), str(mnt)],
        env=env, stdin=subprocess.DEVNULL, stdout=outf, stderr=subprocess.STDOUT)
    pid = None
    try:
        end = time.monotonic() + 30
        while not (t / "ready").exists() and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        out = (t / "out").read_text()
        assert (t / "ready").exists(), f"{how} did not mount (exit {proc.poll()}):\n{out}"
        lines = out.splitlines()
        mounts = [i for i, line in enumerate(lines) if f" {mnt} fuse.rtkfs " in line]
        assert mounts, f"no 'rtkfs {mnt} fuse.rtkfs' in /proc/self/mounts:\n{out}"
        n = len(api.accounts())
        check_served(api, lines[mounts[0] + 1:mounts[0] + 1 + n])
        assert "Acme Media" in lines[mounts[0] + 1 + n:], out
        pids = daemon_pids(mnt)
        assert len(pids) == 1, f"rtkfs daemons serving {mnt}: {pids}"
        pid = pids[0]
        assert parent_of(pid) == os.getpid(), "the daemon did not detach from mount(8)"
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert argv[:3] == [b"rtkfs", b"rtkfs", str(mnt).encode()], argv   # SOURCE MNT
        (t / "go").touch()
        assert proc.wait(timeout=30) == 0, (t / "out").read_text()
        assert (t / "out").read_text().endswith("UNMOUNTED\n")
        status = wait_exit(pid, 15)
        assert status == 0, f"rtkfs exited {status} after umount"
    finally:
        (t / "go").touch()
        if proc.poll() is None:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        outf.close()
        if pid is not None and wait_exit(pid, 0) is None:
            os.kill(pid, signal.SIGTERM)    # it unmounts inside the namespace and exits
        messages = []
        while True:
            try:
                messages.append(log.recv(65536).decode(errors="replace"))
            except BlockingIOError:
                break
        log.close()
    # A daemon logs to syslog, with its pid; never the token.
    assert any(f"rtkfs[{pid}]: mounted '{api.url}' at '{mnt}'" in m for m in messages), messages
    assert not any(TOKEN in m for m in messages)
