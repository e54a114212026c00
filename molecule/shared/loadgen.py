"""Bounded HTTP load, run inside the VPS: a fixed number of clients send GET
requests, each on a new connection, until stdin closes or --max-seconds pass.
Prints one JSON object: requests, non_2xx, errors and what was seen.

    python3 loadgen.py --url http://127.0.0.1/api/client --clients 4
    python3 loadgen.py --url https://example.test/healthz --cafile root.pem

Over https each request is a new TLS handshake, and the serial numbers of
the certificates served are counted too.
"""

import argparse
import collections
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1/api/client")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between a client's requests")
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--cafile", help="CA certificates that verify an https URL")
    parser.add_argument("--host-header", help="the Host header, when not the URL's host (a site's name)")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    path = url.path or "/"

    stop = threading.Event()
    lock = threading.Lock()
    counts = collections.Counter()
    statuses = collections.Counter()
    errors = collections.Counter()
    releases = collections.Counter()
    serials = collections.Counter()
    tls = ssl.create_default_context(cafile=args.cafile) if url.scheme == "https" else None
    headers = {"Connection": "close", **({"Host": args.host_header} if args.host_header else {})}
    first_failures = []
    last = {}  # when the last success and the last failure happened

    def client():
        while not stop.is_set():
            outcome = None
            try:
                if tls:
                    conn = http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=args.timeout, context=tls)
                else:
                    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=args.timeout)
                conn.request("GET", path, headers=headers)
                serial = conn.sock.getpeercert()["serialNumber"] if tls else None
                response = conn.getresponse()
                body = response.read()
                conn.close()
                status = response.status
                release = None
                if response.headers.get_content_type() == "application/json":
                    release = json.loads(body).get("release")
            except Exception as exc:  # noqa: BLE001 -- every failure counts, whatever its kind
                outcome = type(exc).__name__
                status = None
            with lock:
                counts["requests"] += 1
                if outcome:
                    errors[outcome] += 1
                else:
                    statuses[status] += 1
                    if not 200 <= status < 300:
                        counts["non_2xx"] += 1
                    if release:
                        releases[release] += 1
                    if serial:
                        serials[serial] += 1
                failed = bool(outcome) or not 200 <= status < 300
                at = round(time.monotonic() - started, 2)
                last["failure_at" if failed else "success_at"] = at
                if failed and len(first_failures) < 5:
                    first_failures.append({"at": at, "error": outcome, "status": status})
            time.sleep(args.pause)

    started = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    print("started", file=sys.stderr, flush=True)
    # Runs until the caller closes stdin, bounded by --max-seconds.
    waiter = threading.Thread(target=sys.stdin.read, daemon=True)
    waiter.start()
    waiter.join(args.max_seconds)
    stop.set()
    for thread in threads:
        thread.join(args.timeout + 5)
    print(json.dumps({
        "clients": args.clients,
        "seconds": round(time.monotonic() - started, 2),
        "requests": counts["requests"],
        "non_2xx": counts["non_2xx"],
        "errors": sum(errors.values()),
        "failed": counts["non_2xx"] + sum(errors.values()),
        "error_kinds": dict(errors),
        "statuses": {str(k): v for k, v in statuses.items()},
        "releases": dict(releases),
        "certificate_serials": dict(serials),
        "first_failures": first_failures,
        "last_failure_at": last.get("failure_at"),
        "last_success_at": last.get("success_at"),
    }))


if __name__ == "__main__":
    main()
