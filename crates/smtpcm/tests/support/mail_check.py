"""Independent view of one message for the HTML mail tests: Python's email package
(policy=default) and mail-parser. Prints one JSON object:

  defects     every defect email reports, on the message, any part or any header
  structure   the MIME tree as type[child,child]
  parts       leaf parts: content type, Content-ID, disposition, file name, the decoded
              payload (base64) and, for text, the decoded text
  mailparser  mail-parser's view: its defects, text/plain and text/html bodies (SHA-256 of
              the UTF-8 text), attachments (file name, content-id, payload in base64)
"""
import base64
import hashlib
import json
import sys
from email import policy
from email.parser import BytesParser

import mailparser

raw = open(sys.argv[1], "rb").read()
msg = BytesParser(policy=policy.default).parsebytes(raw)


def sha(b):
    return hashlib.sha256(b).hexdigest()


defects = []


def walk(part, path):
    for d in part.defects:
        defects.append(f"{path}: {type(d).__name__}: {d}")
    for name, value in part.items():
        for d in getattr(value, "defects", ()):
            defects.append(f"{path}: header {name}: {type(d).__name__}: {d}")
    if part.is_multipart():
        kids = [walk(p, f"{path}/{i}") for i, p in enumerate(part.iter_parts())]
        return f"{part.get_content_type()}[{','.join(kids)}]"
    return part.get_content_type()


structure = walk(msg, "root")
parts = []
for part in msg.walk():
    if part.is_multipart():
        continue
    payload = part.get_payload(decode=True) or b""
    parts.append(
        {
            "content_type": part.get_content_type(),
            "content_id": (part.get("Content-ID") or "").strip() or None,
            "disposition": part.get_content_disposition(),
            "filename": part.get_filename(),
            "payload": base64.b64encode(payload).decode("ascii"),
            "text": part.get_content() if part.get_content_maintype() == "text" else None,
        }
    )

mp = mailparser.parse_from_bytes(raw)
mp_attachments = []
for a in mp.attachments:
    data = a["payload"]
    data = base64.b64decode(data) if a.get("binary") else data.encode("utf-8")
    mp_attachments.append(
        {
            "filename": a.get("filename"),
            "content_id": a.get("content-id") or None,
            "payload": base64.b64encode(data).decode("ascii"),
        }
    )
json.dump(
    {
        "defects": defects,
        "structure": structure,
        "parts": parts,
        "mailparser": {
            "defects": [str(d) for d in mp.defects],
            "text_plain": [sha(t.encode("utf-8")) for t in mp.text_plain],
            "text_html": [sha(t.encode("utf-8")) for t in mp.text_html],
            "attachments": mp_attachments,
        },
    },
    sys.stdout,
)
