#!/usr/bin/env python3
"""How fast an approval request reaches an open Approvals page (see approvals_live.sh): headless
Chromium (Debian's chromium + chromedriver, driven through the W3C WebDriver HTTP API with the
standard library) shows /approvals; an agent's request the guard holds is sent; a
MutationObserver in the page stamps the moment the new approval's card is in the DOM (htmx: SSE
event, GET /approvals/queue, swap). Latency = that stamp - the moment the agent request was sent
(same machine clock), and - the moment the gateway answered 202. Each request is denied after it
was seen, so the queue stays one approval long."""

import http.client
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from dashboard import sign_in
from harness import Stack

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "40"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["chromedriver", f"--port={self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("chromedriver did not start")
                time.sleep(0.05)
        self.profile = tempfile.mkdtemp()
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", f"--user-data-dir={self.profile}"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                                                 "goog:chromeOptions": {"args": args}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request(method, path, json.dumps(body) if body is not None else None,
                     {"Content-Type": "application/json"})
        res = conn.getresponse()
        value = json.loads(res.read() or b"{}").get("value")
        if res.status != 200:
            raise SystemExit(f"webdriver {method} {path}: {res.status} {value}")
        return value

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def close(self):
        try:
            self.s("DELETE", "")
        finally:
            os.killpg(self.proc.pid, 9)


OBSERVE = """
window.__seen = {};
const stamp = () => {
  for (const el of document.querySelectorAll('article.approval.status-pending')) {
    if (!(el.id in window.__seen)) window.__seen[el.id] = Date.now();
  }
};
new MutationObserver(stamp).observe(document.body, {childList: true, subtree: true});
stamp();
"""


def agent_delete(st, n):
    url = urllib.parse.urlparse(st.gw)
    conn = http.client.HTTPConnection(url.netloc, timeout=30)
    sent = time.time() * 1000
    conn.request("DELETE", f"/gateway/bench/items/{n}", headers={"Authorization": f"Bearer {st.token}"})
    res = conn.getresponse()
    body = json.loads(res.read())
    answered = time.time() * 1000
    if res.status != 202:
        raise SystemExit(f"expected the guard to hold DELETE: {res.status} {body}")
    return body["approval_id"], sent, answered


def deny(st, approval_id):
    req = urllib.request.Request(f"{st.approver}/api/approvals/{approval_id}/deny", method="POST")
    req.add_header("authorization", f"Bearer {st.key}")
    urllib.request.urlopen(req).read()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    with Stack() as st:
        cookie = sign_in(st)
        name, value = cookie.split("=", 1)
        wd = WebDriver()
        try:
            wd.go(st.approver + "/health")
            wd.s("POST", "/cookie", {"cookie": {"name": name, "value": value, "path": "/"}})
            wd.go(st.approver + "/approvals")
            # The SSE connection is open once htmx has set it up.
            deadline = time.time() + 10
            while not wd.js("return !!(document.body && window.htmx);"):
                if time.time() > deadline:
                    raise SystemExit("htmx did not load on /approvals")
                time.sleep(0.05)
            time.sleep(1)
            wd.js(OBSERVE)
            from_sent, from_answer = [], []
            for n in range(SAMPLES + 3):
                approval_id, sent, answered = agent_delete(st, n)
                key = f"approval-{approval_id}"
                deadline = time.time() + 10
                while True:
                    seen = wd.js("return window.__seen[arguments[0]] || null;", key)
                    if seen:
                        break
                    if time.time() > deadline:
                        raise SystemExit(f"approval {approval_id} never appeared on the page")
                    time.sleep(0.01)
                if n >= 3:  # the first few warm the caches
                    from_sent.append(seen - sent)
                    from_answer.append(seen - answered)
                deny(st, approval_id)
                time.sleep(0.3)
        finally:
            wd.close()

    print(f"# Shellgate live approvals benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} CPUs, release build, `shellgate up`, headless Chromium, {SAMPLES} requests")
    print()
    print("| from | p50 ms | p90 ms | max ms |")
    print("|---|---|---|---|")
    for label, values in (("agent request sent", from_sent), ("gateway's 202 answer", from_answer)):
        print(f"| {label} | {statistics.median(values):.1f} | {pct(values, 90):.1f} | {max(values):.1f} |")
    print()
    p50 = statistics.median(from_sent)
    print(f"approval on the open page, p50 from the agent's request: {p50:.1f} ms (target ≤ 100 ms: "
          f"{'met' if p50 <= 100 else 'NOT met'})")


if __name__ == "__main__":
    main()
