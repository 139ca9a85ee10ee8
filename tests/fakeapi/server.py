"""Run the fake Realtime Kit API as a process (for scripts, demos, benchmarks).

    /usr/bin/python3 tests/fakeapi/server.py --port 8787 \\
        --fixture tests/fixtures/demo.json [--host 127.0.0.1] \\
        [--port-file FILE] [--latency-ms N] [--verbose]

Serves until SIGINT or SIGTERM.  Drive it through the /__fake/* endpoints
(see README.md).
"""

import argparse
import os
import signal
import sys
import threading

from fakeapi import FakeAPI


def write_port_file(path: str, port: int) -> None:
    """Write atomically, so a reader polling the file never sees half of it."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="fake Cloudflare Realtime Kit API")
    ap.add_argument("--fixture", required=True, help="fixture JSON file")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the port number here once listening")
    ap.add_argument("--latency-ms", type=float, default=0,
                    help="delay added to every API request")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args(argv)

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())

    api = FakeAPI(args.fixture, host=args.host, port=args.port,
                  latency_ms=args.latency_ms, verbose=args.verbose)
    api.start()
    if args.port_file:
        write_port_file(args.port_file, api.port)
    print(f"fakeapi: listening on {api.url}", flush=True)
    while not done.wait(0.5):
        pass
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
