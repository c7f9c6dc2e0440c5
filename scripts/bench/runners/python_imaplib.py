"""CPython's imaplib on the benchmark workloads (the peer the port is measured against).

Usage: python3 scripts/bench/runners/python_imaplib.py WORKLOAD plain|tls
Settings come from the IMAP_* and BENCH_* environment variables, as for the Deno runners; it
prints one JSON line. Timing covers the workload only (after LOGIN and SELECT).
"""

import imaplib
import json
import os
import re
import ssl
import sys
import time

BULK_ITEMS = "(BODY.PEEK[])"
META_ITEMS = "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)"
FETCH_START = re.compile(rb"^\d+ \(")


def first_line(item):
    """The response line of a fetch data item (the line before a literal for a pair)."""
    return item[0] if isinstance(item, tuple) else item


def run(workload, tls):
    host = os.environ.get("IMAP_HOST", "127.0.0.1")
    messages = int(os.environ["BENCH_MESSAGES"])
    expect_bytes = int(os.environ.get("BENCH_EXPECT_BYTES", "0"))
    trips = int(os.environ.get("BENCH_TRIPS", "2000"))
    if tls:
        context = ssl.create_default_context(cafile=os.environ["IMAP_CA"])
        M = imaplib.IMAP4_SSL(host, int(os.environ["IMAP_TLS_PORT"]), ssl_context=context)
    else:
        M = imaplib.IMAP4(host, int(os.environ["IMAP_PORT"]))
    M.login(os.environ.get("IMAP_USER", "imaptest"), os.environ.get("IMAP_PASS", "imaptest"))
    M.select("INBOX")
    items = 0
    size = 0
    ok = True
    # The round trips one after another also report their first half (see halfOf in _common.ts).
    half = trips // 2
    first_half_ms = None
    start = time.perf_counter()
    if workload == "bulk":
        typ, data = M.fetch("1:*", BULK_ITEMS)
        for item in data:
            if isinstance(item, tuple):
                items += 1
                size += len(item[1])
        ok = typ == "OK" and items == messages and (expect_bytes == 0 or size == expect_bytes)
    elif workload == "meta":
        typ, data = M.fetch("1:*", META_ITEMS)
        for item in data:
            line = first_line(item)
            size += len(line) + (len(item[1]) if isinstance(item, tuple) else 0)
            if FETCH_START.match(line):
                items += 1
        ok = typ == "OK" and items == messages
    elif workload == "uid":
        for i in range(trips):
            if i == half:
                first_half_ms = (time.perf_counter() - start) * 1000
            typ, data = M.uid("FETCH", str(i % messages + 1), "(FLAGS)")
            if typ == "OK" and data and data[0] is not None:
                items += 1
                size += len(data[0])
        ok = items == trips
    elif workload == "noop":
        for i in range(trips):
            if i == half:
                first_half_ms = (time.perf_counter() - start) * 1000
            typ, _data = M.noop()
            if typ == "OK":
                items += 1
        ok = items == trips
    ms = (time.perf_counter() - start) * 1000
    M.logout()
    result = {"ms": ms, "bytes": size, "items": items, "ok": ok}
    if first_half_ms is not None:
        result["firstHalfMs"] = first_half_ms
    return result


def main():
    workload, transport = sys.argv[1], sys.argv[2]
    base = {"workload": workload, "impl": "imaplib", "transport": transport}
    if workload not in ("bulk", "meta", "uid", "noop"):
        # imaplib has neither pipelining nor a streaming fetch: nothing to measure.
        print(json.dumps({**base, "ms": None, "bytes": 0, "items": 0, "ok": False,
                          "skipped": "imaplib has no such API"}))
        return 0
    try:
        result = run(workload, transport == "tls")
    except Exception as error:  # report any failure as a row rather than a traceback
        print(json.dumps({**base, "ms": None, "bytes": 0, "items": 0, "ok": False,
                          "error": f"{type(error).__name__}: {error}"}))
        return 1
    print(json.dumps({**base, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
