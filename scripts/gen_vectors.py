#!/usr/bin/env python3
"""Generate CPython imaplib reference vectors for the helpers in utils/.

A development tool, never a runtime dependency: its JSON output is committed under
tests/utils/vectors/ so the tests need no Python.

Usage (from the repository root):
    python3 scripts/gen_vectors.py            # writes every vector file, one process per zone
    TZ=Asia/Kolkata python3 scripts/gen_vectors.py --zone   # prints one zone's vectors to stdout
"""

import calendar
import imaplib
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "utils", "vectors")
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Europe/Berlin"]


def outcome(fn):
    """Run fn and describe its result or the exception class it raised."""
    try:
        return {"ok": fn()}
    except Exception as exc:  # the vectors record which inputs CPython rejects
        return {"error": type(exc).__name__}


def int2ap_vectors():
    ints = list(range(0, 101))
    ints += [2**k for k in range(0, 80)] + [2**k - 1 for k in range(1, 80)]
    ints += [4095, 4096, 65535, 65536, 10**15, 10**18, 10**30, -1, -16, -12345]
    rows = []
    for n in ints:
        rows.append({"in": str(n), "out": imaplib.Int2AP(n).decode()})
    for f in [0.5, 3.7, -5.2, 16.999, 1e15 + 0.5, 2.0**60, 2.0**70, -(2.0**64)]:
        rows.append({"in": f, "float": True, "out": imaplib.Int2AP(f).decode()})
    return rows


FLAGS_INPUTS = [
    "1 (FLAGS (\\Seen \\Answered))",
    "12 (UID 44 FLAGS (\\Seen $Forwarded NonJunk) RFC822.SIZE 2231)",
    "3 (FLAGS ())",
    "4 (FLAGS (\\Recent))",
    "5 (FLAGS (\\Flagged \\Deleted \\Draft \\Recent $MDNSent $Junk))",
    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
    "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited",
    "7 (UID 9)",
    "",
    "FLAGS (a)",
    "8 (FLAGS (\\Seen) UID 3 FLAGS (\\Deleted))",
    "9 (FLAGS (\\Seen",
    "10 (FLAGS (a) X FLAGS (b",
    "11 (FLAGS (a\tb  c\r\x0bd\x0ce))",
    "13 (FLAGS (x)\nFLAGS (y))",
    "14 (X\nFLAGS (y))",
    "15 (FLAGS (multi\nline) z)",
    "16 (flags (\\Seen))",
    "17 (FLAGS(\\Seen))",
    "18 (FLAGS (caf\u00e9 \u65e5\u672c))",
    "19 (FLAGS (\\Seen)\r",
    "20 (FLAGS (  ))",
    "21 (FLAGS (a)) FLAGS (",
]


def flags_vectors():
    return [
        {"in": s, "out": [f.decode() for f in imaplib.ParseFlags(s.encode())]}
        for s in FLAGS_INPUTS
    ]


INTERNALDATE_INPUTS = [
    '1 (INTERNALDATE "17-Jul-1996 02:44:25 -0700")',
    '1 (INTERNALDATE "01-Jan-1970 00:00:00 +0000")',
    '2 (INTERNALDATE " 1-Jan-1970 00:00:00 +0000")',
    '3 (UID 7 INTERNALDATE "29-Feb-2024 23:59:59 +0530" RFC822.SIZE 4)',
    '4 (INTERNALDATE "31-Dec-1999 23:59:59 -0800")',
    '5 (INTERNALDATE "10-Mar-2024 06:59:59 +0000")',
    '5 (INTERNALDATE "10-Mar-2024 07:00:00 +0000")',
    '5 (INTERNALDATE "03-Nov-2024 05:59:59 +0000")',
    '5 (INTERNALDATE "03-Nov-2024 06:00:00 +0000")',
    '5 (INTERNALDATE "31-Mar-2024 00:59:59 +0000")',
    '5 (INTERNALDATE "31-Mar-2024 01:00:00 +0000")',
    '5 (INTERNALDATE "27-Oct-2024 00:59:59 +0000")',
    '5 (INTERNALDATE "27-Oct-2024 01:00:00 +0000")',
    '6 (INTERNALDATE "15-Jun-2038 12:00:00 +0200")',
    '6 (INTERNALDATE "15-Dec-2100 12:00:00 -1200")',
    '6 (INTERNALDATE "01-Jan-1969 12:00:00 +1400")',
    '6 (INTERNALDATE "00-Mar-2023 00:00:00 +0000")',
    '6 (INTERNALDATE "39-Feb-2023 99:99:99 +9999")',
    '6 (INTERNALDATE "31-Dec-9999 23:59:59 -2359")',
    '6 (INTERNALDATE "01-Jan-1800 00:00:00 +0000")',
    '6 (INTERNALDATE "02-Jan-0001 00:00:00 +0000")',
    '6 (INTERNALDATE "01-Jan-0000 00:00:00 +0000")',
    '7 (INTERNALDATE "17-Foo-1996 02:44:25 -0700")',
    '7 (INTERNALDATE "17-jul-1996 02:44:25 -0700")',
    '7 (INTERNALDATE "17-Jul-1996 02:44:25 0700")',
    '7 (INTERNALDATE "7-Jul-1996 02:44:25 -0700")',
    '7 (INTERNALDATE "17-Jul-96 02:44:25 -0700")',
    '7 (INTERNALDATE 17-Jul-1996 02:44:25 -0700)',
    '7 (INTERNALDATE "47-Jul-1996 02:44:25 -0700")',
    '',
    'INTERNALDATE "17-Jul-1996 02:44:25 -0700"',
    '8 (INTERNALDATE "01-Feb-2001 00:00:00 +0000" INTERNALDATE "02-Mar-2002 00:00:00 +0000")',
    '8 (INTERNALDATE "01-Feb-2001 00:00:00 +0000" INTERNALDATE "02-Mar-2002 00:00 +0000")',
    '8 (INTERNALDATE "01-Feb-2001 00:00:00 +0000" INTERNALDATE "02-Xyz-2002 00:00:00 +0000")',
    '9 (X)\n(INTERNALDATE "17-Jul-1996 02:44:25 -0700")',
    '9 (INTERNALDATE "17-Jul-1996 02:44:25 -0700")\r\nrest',
    '9 (INTERNALDATE "17-Jul-1996 02:44:25 -0700"\n)',
]


def internaldate2tuple_vectors():
    rows = []
    for s in INTERNALDATE_INPUTS:
        r = outcome(lambda: imaplib.Internaldate2tuple(s.encode()))
        if "ok" in r:
            r = {"ok": None if r["ok"] is None else list(r["ok"])}
        rows.append({"in": s, **r})
    return rows


def utc(*fields):
    return calendar.timegm(fields + (0,) * (6 - len(fields)))


def number_inputs():
    nums = [0, 1, -1, 86399, 10**9, 1234567890, 2**31 - 1, 2**31, 4102444800]
    # instants around the DST transitions of every zone tested, and round ones
    for t in [utc(2024, 3, 10, 7), utc(2024, 11, 3, 6), utc(2024, 3, 31, 1), utc(2024, 10, 27, 1),
              utc(1996, 3, 31, 1), utc(2007, 3, 11, 7), utc(2006, 4, 2, 7), utc(2037, 11, 1, 6)]:
        nums += [t - 1, t, t + 1, t + 3599, t + 3600]
    nums += [utc(1, 1, 1), utc(1, 1, 2), utc(9999, 12, 31, 23, 59, 59), utc(9999, 12, 30),
             utc(1800, 1, 1), utc(1943, 6, 1), utc(1900, 1, 1), utc(2100, 7, 1)]
    nums += [utc(1, 1, 1) - 1, utc(9999, 12, 31, 23, 59, 59) + 1, 10**20]
    floats = [0.5, 1.5, -0.5, -1.5, 1e9 + 0.9999994, 1e9 + 0.9999996, -1e9 - 0.9999996,
              1e9 + 0.25, float("nan"), float("inf"), float("-inf")]
    return nums, floats


STRING_INPUTS = ['"17-Jul-1996 02:44:25 -0700"', '""', '"', 'x"', '"x', '17-Jul-1996', '',
                 '"anything goes"']

TUPLES = [
    (2024, 1, 15, 12, 0, 0, 0, 15, 0),
    (2024, 1, 15, 12, 0, 0, 0, 15, 1),
    (2024, 7, 15, 12, 0, 0, 0, 197, 0),
    (2024, 7, 15, 12, 0, 0, 0, 197, 1),
    (2024, 7, 15, 12, 0, 0, 0, 197, -2),
    (2024, 7, 15, 12, 0, 0, 0, 197, 2),
    (1, 1, 1, 0, 0, 0, 0, 1, 0),
    (9999, 12, 31, 23, 59, 59, 4, 365, 0),
    (1800, 1, 1, 0, 0, 0, 2, 1, 0),
    (2024, 2, 30, 0, 0, 0, 0, 0, 0),
    (2024, 13, 1, 0, 0, 0, 0, 0, 0),
    (2024, 1, 1, 24, 0, 0, 0, 0, 0),
    (2024, 1, 1, 0, 60, 0, 0, 0, 0),
    (2024, 1, 1, 0, 0, 60, 0, 0, 0),
    (0, 1, 1, 0, 0, 0, 0, 0, 0),
]

# mktime's answer for ambiguous local times depends on earlier mktime calls in the process
# (glibc caches its last offset), so each dst = -1 tuple is asked in a fresh process.
TUPLES_MKTIME = [
    (2024, 1, 15, 12, 0, 0, 0, 0, -1),
    (2024, 7, 15, 12, 0, 0, 0, 0, -1),
    (2024, 3, 10, 2, 30, 0, 0, 0, -1),  # New York gap
    (2024, 3, 31, 2, 30, 0, 0, 0, -1),  # Berlin gap
    (2024, 3, 10, 3, 30, 0, 0, 0, -1),
    (2024, 3, 31, 3, 30, 0, 0, 0, -1),
]


def time2internaldate_vectors():
    rows = []
    nums, floats = number_inputs()
    for n in nums:
        rows.append({"in": {"number": n}, **outcome(lambda: imaplib.Time2Internaldate(n))})
    for f in floats:
        key = {"number": f} if math.isfinite(f) else {"special": repr(f)}
        rows.append({"in": key, **outcome(lambda: imaplib.Time2Internaldate(f))})
    for s in STRING_INPUTS:
        rows.append({"in": {"string": s}, **outcome(lambda: imaplib.Time2Internaldate(s))})
    for tt in TUPLES:
        rows.append({"in": {"tuple": list(tt)}, **outcome(lambda: imaplib.Time2Internaldate(tt))})
    for tt in TUPLES_MKTIME:
        code = "import imaplib,json,sys;tt=tuple(json.loads(sys.argv[1]));print(imaplib.Time2Internaldate(tt))"
        res = subprocess.run([sys.executable, "-c", code, json.dumps(tt)], capture_output=True,
                             text=True, check=True)
        rows.append({"in": {"tuple": list(tt)}, "ok": res.stdout.rstrip("\n")})
    return rows


def zone_vectors():
    return {
        "tz": os.environ.get("TZ", ""),
        "generated_by": "CPython " + sys.version.split()[0] + " imaplib, scripts/gen_vectors.py",
        "python_time": {"timezone": time.timezone, "altzone": time.altzone,
                        "daylight": time.daylight},
        "internaldate2tuple": internaldate2tuple_vectors(),
        "time2internaldate": time2internaldate_vectors(),
    }


def write(name, data):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def main():
    if sys.argv[1:] == ["--zone"]:
        json.dump(zone_vectors(), sys.stdout, ensure_ascii=False)
        return
    os.makedirs(OUT, exist_ok=True)
    write("int2ap.json", int2ap_vectors())
    write("flags.json", flags_vectors())
    for tz in ZONES:
        env = dict(os.environ, TZ=tz)
        res = subprocess.run([sys.executable, __file__, "--zone"], env=env, capture_output=True,
                             text=True, check=True)
        write("internaldate_" + tz.replace("/", "_").lower() + ".json", json.loads(res.stdout))


if __name__ == "__main__":
    main()
