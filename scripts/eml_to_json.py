"""Parses one email (RFC 5322 bytes, from a file or stdin) with Python's standard `email`
package and prints it as JSON: decoded headers, the MIME tree with decoded text, and any
defects the parser found. The notifiers tests use it as an independent reader of jalon's
messages."""
import email
import json
import sys
from email import policy


def part(p):
    out = {
        "content_type": p.get_content_type(),
        "params": {k: v for k, v in (p.get_params() or [])[1:]},
        "filename": p.get_filename(),
        "disposition": p.get_content_disposition(),
        "defects": [type(d).__name__ for d in p.defects],
    }
    if p.is_multipart():
        out["parts"] = [part(x) for x in p.iter_parts()]
    else:
        content = p.get_content()
        out["content"] = content if isinstance(content, str) else content.decode("utf-8")
    return out


def main():
    data = open(sys.argv[1], "rb").read() if len(sys.argv) > 1 else sys.stdin.buffer.read()
    msg = email.message_from_bytes(data, policy=policy.default)
    print(json.dumps({
        "headers": {k: str(v) for k, v in msg.items()},
        "body": part(msg),
    }, ensure_ascii=False))


main()
