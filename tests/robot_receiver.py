"""A stand-in for WeCom's and DingTalk's robot endpoints, run as its own process on loopback.

    python -m tests.robot_receiver PORT LOG [--secret S] [--answers 503,200] [--retry-after 120]

It checks each request as the real service would: WeCom (`/cgi-bin/webhook/send?key=...`) wants
`msgtype` markdown or text with content; DingTalk (`/robot/send?access_token=...`) wants the same
shapes and, with a secret, `timestamp` within an hour and `sign` = base64(HMAC-SHA256(secret,
"{timestamp}\\n{secret}")). A request that fails a check gets the app's errcode in a 200 (as the apps
answer). Every request is appended to LOG as a JSON line `{app, ok, error, body, query}`. `--answers`
are HTTP statuses answered to the first requests, in order (then 200); `--hang-first` holds the first
request unanswered (logged as `{"hanging": true}`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def check_body(body: dict) -> str | None:
    kind = body.get("msgtype")
    if kind == "markdown":
        content = body.get("markdown", {})
        if not (content.get("content") or content.get("text")):
            return "markdown without content"
        return None
    if kind == "text":
        return None if body.get("text", {}).get("content") else "text without content"
    return f"unknown msgtype {kind!r}"


def check_dingtalk(query: dict, body: dict, secret: str | None) -> str | None:
    if body.get("msgtype") == "markdown" and not body["markdown"].get("title"):
        return "markdown without title"
    if not query.get("access_token"):
        return "no access_token"
    if secret:
        timestamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3600 * 1000:
            return "timestamp missing or too old"
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(sign, expected):
            return "sign not match"
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    parser.add_argument("--secret")
    parser.add_argument("--answers", default="")
    parser.add_argument("--retry-after")
    parser.add_argument("--hang-first", type=float, default=0, help="seconds the first request waits for its answer")
    options = parser.parse_args()
    hang = [options.hang_first] if options.hang_first else []
    answers = [int(a) for a in options.answers.split(",") if a]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if hang:  # a sender that dies while waiting here leaves its delivery half-done
                with open(options.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps({"app": None, "hanging": True}) + "\n")
                time.sleep(hang.pop())
                return
            app = (
                "dingtalk"
                if parts.path == "/robot/send"
                else "wecom"
                if parts.path == "/cgi-bin/webhook/send"
                else None
            )
            status = answers.pop(0) if answers else 200
            error = None
            try:
                body = json.loads(raw)
            except ValueError:
                body, error = None, "body is not JSON"
            if app is None:
                error = "unknown path"
            elif error is None and self.headers.get_content_type() != "application/json":
                error = "content type is not application/json"
            elif error is None:
                error = check_body(body)
                if error is None and app == "wecom" and not query.get("key"):
                    error = "no key"
                if error is None and app == "dingtalk":
                    error = check_dingtalk(query, body, options.secret)
            with open(options.log, "a", encoding="utf-8") as log:
                record = {"app": app, "status": status, "ok": error is None, "error": error, "body": body}
                log.write(json.dumps({**record, "query": query}, ensure_ascii=False) + "\n")
            answer = json.dumps({"errcode": 0 if error is None else 310000, "errmsg": error or "ok"}).encode()
            self.send_response(status)
            if options.retry_after and status in (429, 503):
                self.send_header("Retry-After", options.retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", options.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
