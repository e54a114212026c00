#!/usr/bin/env python3
"""Benchmark: a code change redeployed by this project versus the naive
`docker compose up -d --build`, on the same local VPS in the same run.

Starts a Debian 13 VPS container (flask-vps/vps:13, see lab/scripts/build-images.sh),
deploys the sample app with site.yml, then measures under the same load (fixed
number of clients inside the VPS, one connection per request):

  1. this project: ansible-playbook playbooks/deploy.yml with version 2 of the app;
  2. naive: the app + nginx in one compose project (nginx -> app:8000, port
     8080), then `docker compose up -d --build` with version 2, which recreates
     the app container.

Prints a markdown table. Not a test: it asserts nothing.

    . .venv/bin/activate && python lab/benchmarks/redeploy.py [--clients 4] [--keep]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "molecule" / "shared"))
from load import Load
from stack import (
    PROJECT_DIR,
    make_app,
    run_playbook,
    start_vps,
)

CONTAINER = "redeploy-bench"
NAIVE_DIR = "/srv/naive"

NAIVE_COMPOSE = """\
name: naive
services:
  app:
    build:
      context: ./app
      args:
        PYTHON_IMAGE: flask-vps/python:3.13-slim
      secrets: [ca_bundle]
    image: naive-app
    command: [gunicorn, --bind=0.0.0.0:8000, --workers=2, --access-logfile=-, "wsgi:app"]
    restart: unless-stopped
    healthcheck:
      test: [CMD, python3, -c, "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
      interval: 2s
      retries: 3
  nginx:
    image: flask-vps/nginx:1.26
    ports: ["8080:80"]
    volumes: [./conf.d:/etc/nginx/conf.d:ro]
    depends_on:
      app: {condition: service_healthy}
    restart: unless-stopped
secrets:
  ca_bundle:
    file: /etc/ssl/certs/ca-certificates.crt
"""

NAIVE_NGINX = """\
server {
    listen 80 default_server;
    location / {
        proxy_pass http://app:8000;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
    }
}
"""


def sh(*argv, **kwargs):
    return subprocess.run(argv, check=True, text=True, stdout=subprocess.PIPE, **kwargs).stdout


def vps(script, stdin=None):
    return sh("docker", "exec", "-i", CONTAINER, "bash", "-ec", script, input=stdin)


def inventory(tmp):
    inv = Path(tmp) / "inventory"
    inv.mkdir()
    (inv / "hosts.yml").write_text(
        f"vps:\n  hosts:\n    {CONTAINER}:\n      ansible_connection: community.docker.docker\n"
        f"local_vps:\n  hosts:\n    {CONTAINER}:\n")
    (inv / "group_vars").symlink_to(PROJECT_DIR / "lab" / "inventory" / "group_vars")
    return inv


def deploy(playbook, inv, src):
    # local_vps_project_dir: where the group_vars find the base image archives.
    run_playbook(playbook, inv, {"app_src": str(src), "local_vps_project_dir": str(PROJECT_DIR)}, check=True)


def copy_into_vps(src, dest):
    vps(f"rm -rf {dest} && mkdir -p {dest}")
    sh("docker", "cp", f"{src}/.", f"{CONTAINER}:{dest}")
    # As if edited in place: docker cp keeps whole-second mtimes, and BuildKit
    # skips context files whose size and mtime did not change.
    vps(f"find {dest} -exec touch {{}} +")


def timed_under_load(url, clients, action):
    with Load(CONTAINER, url=url, clients=clients) as load:
        started = time.monotonic()
        action()
        wall = time.monotonic() - started
    return wall, load.result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help=f"keep the {CONTAINER} container")
    args = parser.parse_args()

    try:
        ours, naive, served = measure(args)
    finally:
        if not args.keep:
            subprocess.run(["docker", "rm", "-f", "-v", CONTAINER], capture_output=True, check=False)
    report(args, ours, naive, served)


def measure(args):
    with tempfile.TemporaryDirectory() as tmp:
        print(f"starting {CONTAINER} and deploying version 1 (a few minutes)...", file=sys.stderr)
        start_vps(CONTAINER)
        inv = inventory(tmp)
        v1 = make_app(Path(tmp) / "v1", version="1.0.0")
        v2 = make_app(Path(tmp) / "v2", version="2.0.0")
        deploy("site.yml", inv, v1)

        # The naive stack next to it, built from the same version 1 source.
        vps(f"mkdir -p {NAIVE_DIR}/conf.d && cat > {NAIVE_DIR}/compose.yml", NAIVE_COMPOSE)
        vps(f"cat > {NAIVE_DIR}/conf.d/app.conf", NAIVE_NGINX)
        copy_into_vps(v1, f"{NAIVE_DIR}/app")
        vps(f"cd {NAIVE_DIR} && docker compose up -d --build --wait --quiet-pull 2>&1")

        print("measuring this project's redeploy...", file=sys.stderr)
        ours = timed_under_load(
            "http://127.0.0.1/api/client", args.clients,
            lambda: deploy("playbooks/deploy.yml", inv, v2))

        print("measuring docker compose up -d --build...", file=sys.stderr)
        copy_into_vps(v2, f"{NAIVE_DIR}/app")
        naive = timed_under_load(
            "http://127.0.0.1:8080/api/client", args.clients,
            lambda: vps(f"cd {NAIVE_DIR} && docker compose up -d --build 2>&1"))
        # Version 2 really went live on both.
        served = [vps(f"curl -s http://127.0.0.1:{port}/api/client") for port in (80, 8080)]
    return ours, naive, served


def report(args, ours, naive, served):
    rows = [("flask-vps release switch (`playbooks/deploy.yml`)", *ours),
            ("naive `docker compose up -d --build`", *naive)]
    print(f"\nCode-only change, {args.clients} clients on the VPS, one connection per request.\n")
    print("| Redeploy | Wall time | Requests sent | Failed requests | Failed share |")
    print("|---|---:|---:|---:|---:|")
    for name, wall, result in rows:
        share = result["failed"] / result["requests"] if result["requests"] else 0
        print(f"| {name} | {wall:.1f} s | {result['requests']} | {result['failed']} | {share:.2%} |")
    (_, wall_ours, r_ours), (_, wall_naive, r_naive) = rows
    print(f"\nWall time, this project / naive: {wall_ours / wall_naive:.2f}")
    print(f"Failed requests, this project / naive: {r_ours['failed']} / {r_naive['failed']}")
    for name, _, result in rows:
        print(f"{name}: statuses {result['statuses']}, errors {result['error_kinds']}", file=sys.stderr)
    print("served after the redeploys:", *served, sep="\n", file=sys.stderr)


if __name__ == "__main__":
    main()
