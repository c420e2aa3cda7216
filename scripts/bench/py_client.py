#!/usr/bin/env python3
"""The Python peer of scripts/bench.sh: smtplib and the email package, used as a user would.

    py_client.py HOST PORT one-connection N   N messages of 1 KiB body over one SMTP session
    py_client.py HOST PORT per-message N      N messages, a new session for each
    py_client.py HOST PORT attachment FILE    one message with FILE attached (email + smtplib)
    py_client.py HOST PORT single 1           one message (process start-up is what is timed)

Prints "sent N in S s (R msg/s)"; exits 1 with the error otherwise.
"""

import smtplib
import sys
import time
from email.message import EmailMessage

FROM = "bench@example.com"
TO = "sink@example.com"
BODY_1K = ("x" * 63 + "\n") * 16


def small_message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = FROM
    msg["To"] = TO
    msg["Subject"] = "bench"
    msg.set_content(BODY_1K)
    return msg


def one_connection(host: str, port: int, count: int) -> int:
    with smtplib.SMTP(host, port) as smtp:
        for _ in range(count):
            smtp.send_message(small_message())
    return count


def per_message(host: str, port: int, count: int) -> int:
    for _ in range(count):
        with smtplib.SMTP(host, port) as smtp:
            smtp.send_message(small_message())
    return count


def attachment(host: str, port: int, path: str) -> int:
    msg = EmailMessage()
    msg["From"] = FROM
    msg["To"] = TO
    msg["Subject"] = "bench attachment"
    msg.set_content("See the attachment.")
    with open(path, "rb") as f:
        msg.add_attachment(f.read(), maintype="application", subtype="octet-stream", filename="big.bin")
    with smtplib.SMTP(host, port, timeout=600) as smtp:
        smtp.send_message(msg)
    return 1


MODES = {
    "one-connection": lambda h, p, a: one_connection(h, p, int(a)),
    "per-message": lambda h, p, a: per_message(h, p, int(a)),
    "attachment": attachment,
    "single": lambda h, p, a: one_connection(h, p, 1),
}


def main() -> int:
    if len(sys.argv) != 5 or sys.argv[3] not in MODES:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, mode, arg = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    started = time.perf_counter()
    try:
        sent = MODES[mode](host, port, arg)
    except (OSError, smtplib.SMTPException) as e:
        print(f"py_client: {mode}: {e}", file=sys.stderr)
        return 1
    secs = time.perf_counter() - started
    print(f"sent {sent} in {secs:.3f} s ({sent / secs:.0f} msg/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
