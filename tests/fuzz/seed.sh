#!/bin/sh
# Build the seed corpora of the fuzz targets from the fixture bodies, into a build dir.
#   tests/fuzz/seed.sh [BUILD_DIR]      (default: build-fuzz)
# Then, for each target (page, object, path, value, jsondoc):
#   B=build-fuzz/tests/fuzz; $B/fuzz_page -max_total_time=30 -dict=tests/fuzz/json.dict \
#       $B/corpus/page $B/seeds/page
# seeds/ is rebuilt on every run; corpus/ (where libFuzzer adds what it finds) is kept.
# Both are generated, never committed.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-fuzz}
out="$build/tests/fuzz/seeds"
bodies="$src/tests/fixtures/bodies"
demo="$src/tests/fixtures/demo.json"

rm -rf "$out"
mkdir -p "$out/page" "$out/object" "$out/path" "$out/value" "$out/jsondoc"
for d in page object path value jsondoc; do
	mkdir -p "$build/tests/fuzz/corpus/$d"
done

# page: one kind byte (0 accounts, 1 apps, 2 webhooks) and the body.
page_seed() { # kind-byte-octal file name
	{ printf "\\$1"; cat "$2"; } > "$out/page/$3"
}

for f in "$bodies"/*; do
	name=$(basename "$f")
	cp "$f" "$out/object/$name"
	case "$name" in
	accounts_*) page_seed 000 "$f" "$name" ;;
	apps_*) page_seed 001 "$f" "$name" ;;
	webhook*) page_seed 002 "$f" "$name" ;;
	*)
		page_seed 000 "$f" "0-$name"
		page_seed 001 "$f" "1-$name"
		page_seed 002 "$f" "2-$name"
		;;
	esac
done

# demo.json holds the fake server's state: turn it into the bodies that server would send.
if [ -f "$demo" ] && command -v python3 >/dev/null 2>&1; then
	python3 - "$demo" "$out" <<'PY'
import json, sys
demo, out = sys.argv[1], sys.argv[2]
d = json.load(open(demo))
accounts = d.get("accounts", [])
def write(path, data, kind=None):
    raw = json.dumps(data, ensure_ascii=False).encode()
    if kind is not None:
        raw = bytes([kind]) + raw
    open(path, "wb").write(raw)
accs = [{k: v for k, v in a.items() if k != "apps"} for a in accounts]
write(f"{out}/page/demo-accounts", {"success": True, "errors": [], "messages": [], "result": accs,
      "result_info": {"page": 1, "per_page": 50, "count": len(accs), "total_count": len(accs)}}, 0)
n = 0
for a in accounts:
    apps = a.get("apps", [])
    plain = [{k: v for k, v in p.items() if k != "webhooks"} for p in apps]
    write(f"{out}/page/demo-apps-{n}", {"success": True, "data": plain,
          "paging": {"start_offset": 1, "end_offset": len(plain), "total_count": len(plain)}}, 1)
    for p in apps:
        hooks = p.get("webhooks", [])
        write(f"{out}/page/demo-webhooks-{n}", {"success": True, "data": hooks}, 2)
        for h in hooks[:3]:
            write(f"{out}/object/demo-webhook-{n}-{h.get('id', 'x')[:8]}", {"success": True, "data": h})
            put = {k: h[k] for k in ("name", "url", "events", "enabled") if k in h}
            write(f"{out}/value/demo-put-{n}-{h.get('id', 'x')[:8]}", put, 7)
        n += 1
PY
fi

# path: mount paths, valid and hostile.
i=0
for p in / /accounts /accounts/023e105f4ecef8ad9ca31a8372d0c353 \
	/accounts/023e105f4ecef8ad9ca31a8372d0c353/account.json \
	/accounts/023e105f4ecef8ad9ca31a8372d0c353/apps/14a396e7-ca44-4937-bf1f-050a69118543/app.json \
	/accounts/A/apps/P/webhooks/0d1f069d-43bb-489a-ad8c-7eb95592ba8e/webhook.json \
	/accounts/A/apps/P/webhooks/W/events //accounts//A/ /.rtkfs/stats.json /.rtkfs/ctl \
	/accounts/.. /accounts/A/apps/../.. "accounts" "/accounts/a b" /accounts/A/id/x; do
	printf '%s' "$p" > "$out/path/p$i"
	i=$((i + 1))
done

# value: a field byte (1 name, 2 url, 3 enabled, 4 events, 7 webhook.json) and the value.
value_seed() { # byte-octal text name
	{ printf "\\$1"; printf '%b' "$2"; } > "$out/value/$3"
}
value_seed 001 'New name\n' name
value_seed 002 'https://example.com/hook\n' url
value_seed 002 'http://127.0.0.1:8080/x\r\n' url-loopback
value_seed 003 'false\n' enabled
value_seed 003 '1' enabled-1
value_seed 004 'meeting.started\nmeeting.ended\n' events
value_seed 004 'meeting.summary recording.statusUpdate\tmeeting.started' events-spaces
value_seed 007 '{"name":"n","url":"https://x.example","events":["meeting.started"],"enabled":false}' put
value_seed 007 '{"id":"w","name":"n","url":"https://x.example","events":[],"created_at":"x"}' put-ids
# NUL in a written string: a raw byte in a field file, a \u0000 escape in webhook.json.
value_seed 001 'a\0b\n' name-nul
value_seed 004 'meeting.started\0\n' events-nul
value_seed 007 '{"name":"a\\u0000b","url":"https://x.example","events":[]}' put-nul

# jsondoc: JSON documents whole, cut short, and wrong (the scanner against the parser).
for f in "$bodies"/*.json; do
	cp "$f" "$out/jsondoc/$(basename "$f")"
	head -c 40 "$f" > "$out/jsondoc/cut-$(basename "$f")"
done
printf '{"a": [1, 2.5e3, -0, true, null, "x\\u0041"]}' > "$out/jsondoc/all-kinds"
printf '{"a": 01}' > "$out/jsondoc/bad-number"

for d in page object path value jsondoc; do
	printf '%s: %s seeds\n' "$d" "$(ls "$out/$d" | wc -l)"
done
