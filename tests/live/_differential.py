"""Runs a scripted IMAP session with CPython's imaplib and prints one JSON object per step.

The python side of tests/live/differential_test.ts (a reference, never a runtime dependency).
Reads one JSON object on stdin:

    {"host": ..., "port": ..., "steps": [...]}

Each step is one of
    {"op": "call", "name": METHOD, "args": [...]}   calls M.METHOD(*args)
    {"op": "attr", "name": ATTRIBUTE}                reads M.ATTRIBUTE
where an argument {"bytes": TEXT} stands for TEXT encoded as UTF-8 bytes.

For each step it prints {"result": VALUE, "state": M.state}, or {"error": CLASS, "msg": TEXT,
"state": ...} when the call raised. In VALUE, a `(typ, data)` pair becomes [typ, data]; a response
line (bytes) becomes text; the literal of a `(line, literal)` pair becomes {"b64": ...}; None
becomes null.
"""

import base64
import imaplib
import json
import sys


def text(value):
    """Decodes a response line as the TypeScript client does (UTF-8, invalid bytes replaced)."""
    return value.decode("utf-8", "replace")


def datum(value):
    """Converts one item of imaplib's data list."""
    if value is None:
        return None
    if isinstance(value, tuple):
        # (line up to and including {n}, literal bytes)
        return [text(value[0]), {"b64": base64.b64encode(value[1]).decode("ascii")}]
    if isinstance(value, bytes):
        return text(value)
    if isinstance(value, list):
        return [datum(item) for item in value]
    return value


def convert(value):
    """Converts a step's result: (typ, data), an attribute, or a plain value."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(
        value[1], list
    ):
        return [value[0], [datum(item) for item in value[1]]]
    if isinstance(value, tuple):
        return [convert(item) for item in value]
    if isinstance(value, bytes):
        return text(value)
    return value


def argument(value):
    """Turns {"bytes": TEXT} into bytes; everything else is passed as it is."""
    if isinstance(value, dict) and "bytes" in value:
        return value["bytes"].encode("utf-8")
    return value


def main():
    spec = json.load(sys.stdin)
    imap = imaplib.IMAP4(spec["host"], spec["port"], timeout=30)
    for step in spec["steps"]:
        out = {}
        try:
            if step["op"] == "attr":
                out["result"] = convert(getattr(imap, step["name"]))
            else:
                args = [argument(a) for a in step.get("args", [])]
                out["result"] = convert(getattr(imap, step["name"])(*args))
        except Exception as error:  # every outcome is data for the comparison
            out["error"] = type(error).__name__
            out["msg"] = str(error)
        out["state"] = imap.state
        print(json.dumps(out), flush=True)
    try:
        imap.shutdown()
    except OSError:
        pass


if __name__ == "__main__":
    main()
