"""A department's system receiving Standard Webhooks, run as its own process on loopback.

    python -m tests.webhook_receiver PORT LOG SECRET_FILE [--answers 500,200] [--retry-after 2]
        [--hang-first 120] [--reply-to URL --reply-secret-file FILE]

It verifies each request with the `standardwebhooks` package (an implementation independent of
Fengqiao's webhooks/signing.py) under the secret in SECRET_FILE (read per request, so a test can
write it after creating the subscription, or change it for a rotation), and appends a JSON line
`{id, timestamp, signature, ok, error, status, body}` to LOG. `--answers` are statuses for the first
requests (then 200), `--retry-after` is sent with 429/503, `--hang-first` holds the first request.
With `--reply-to`, an `escalation.raised` is answered by posting the department's result back to
that URL, signed with the secret in `--reply-secret-file` (again by the package).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

RESULT = {"outcome": "resolved", "summary": "民政已办结 handled by civil affairs"}


def reply(url: str, secret: str, business_key: str, log: str) -> None:
    body = json.dumps({"business_key": business_key, "payload": RESULT}, ensure_ascii=False)
    webhook_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(webhook_id, now, body)
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    with open(log, "a", encoding="utf-8") as out:
        out.write(json.dumps({"reply": True, "status": status, "answer": text, "webhook_id": webhook_id}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    parser.add_argument("secret_file")
    parser.add_argument("--answers", default="")
    parser.add_argument("--retry-after")
    parser.add_argument("--hang-first", type=float, default=0)
    parser.add_argument("--reply-to")
    parser.add_argument("--reply-secret-file")
    options = parser.parse_args()
    hang = [options.hang_first] if options.hang_first else []
    answers = [int(a) for a in options.answers.split(",") if a]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen = {k: headers.get(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
            if hang:  # a sender that dies while waiting here leaves its delivery half-done
                with open(options.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps({"hanging": True, "id": seen["webhook-id"]}) + "\n")
                time.sleep(hang.pop())
                return
            status = answers.pop(0) if answers else 200
            error, body = None, None
            try:
                body = Webhook(Path(options.secret_file).read_text().strip()).verify(raw, headers)
            except WebhookVerificationError as exc:
                error = f"verification: {exc}"
            except ValueError as exc:
                error = f"malformed: {exc}"
            with open(options.log, "a", encoding="utf-8") as log:
                record = {"id": seen["webhook-id"], "timestamp": seen["webhook-timestamp"]}
                record |= {"signature": seen["webhook-signature"], "ok": error is None, "error": error}
                record |= {"status": status, "body": body if body is not None else raw.decode("utf-8", "replace")}
                log.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.send_response(status if error is None else 400)
            if options.retry_after and status in (429, 503):
                self.send_header("Retry-After", options.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if error is None and status < 300 and options.reply_to and body.get("type") == "escalation.raised":
                secret = Path(options.reply_secret_file).read_text().strip()
                reply(options.reply_to, secret, body["data"]["business_key"], options.log)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", options.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
