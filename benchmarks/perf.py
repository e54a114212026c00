#!/usr/bin/env python3
"""Benchmarks: how long runs take and how fast the stack serves, measured on
local VPS containers reached over SSH like a real VPS, side by side in one
run, each figure repeated (median and spread). Writes docs/performance.md and
docs/performance.png. Not a test: it asserts nothing.

    make bench                        # BENCH_REPEAT=3 by default
    BENCH_REPEAT=1 make bench         # quicker, noisier

Figures: cold site.yml; no-op rerun with this project's Ansible settings and
with Ansible's stock ones; code-only and dependency redeploys; rollback; a
naive `docker compose up -d --build` of the same code change; source push of
an app of 25 and of 2,000 files; no-op site.yml over 1, 2 and 4 hosts; and
requests per second through nginx, to gunicorn directly and for a static file.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "molecule" / "shared"))
sys.path.insert(0, str(HERE))
import redeploy as naive

from stack import PROJECT_DIR, VPS_RUN_ARGS, make_app, wait_for_boot

HOSTS = [f"bench-vps-{n}" for n in range(1, 5)]
SSH_PORT = {name: 19100 + n for n, name in enumerate(HOSTS, 1)}
KEY = PROJECT_DIR / ".cache" / "bench-ssh" / "id_ed25519"
DOC = PROJECT_DIR / "docs" / "performance.md"
CHART = PROJECT_DIR / "docs" / "performance.png"
# Ansible's stock settings: only what it needs to find the roles.
STOCK_CFG = f"[defaults]\nroles_path = {PROJECT_DIR / 'roles'}\n"
PUSH_TASKS = ("Package the app source", "Copy the app source archive", "Unpack the app source")


def sh(*argv, **kwargs):
    return subprocess.run(argv, check=True, text=True, stdout=subprocess.PIPE, **kwargs).stdout


def vps(host, script):
    return sh("docker", "exec", host, "bash", "-ec", script)


# ---------------------------------------------------------------- the VPSes

def start(host):
    subprocess.run(["docker", "rm", "-f", "-v", host], capture_output=True, check=False)
    sh("docker", "run", "-d", "--name", host, "--hostname", host, *VPS_RUN_ARGS,
       "-p", f"127.0.0.1:{SSH_PORT[host]}:22", "flask-vps/vps:13", "/lib/systemd/systemd")
    wait_for_boot(host, timeout=120)


def inventory(tmp, hosts):
    """Like inventory/local.yml, for several local VPSes."""
    inv = Path(tmp) / "inventory"
    inv.mkdir(exist_ok=True)
    lines = ["vps:", "  hosts:"] + [f"    {h}:" for h in hosts] + ["local_vps:", "  hosts:"]
    for host in hosts:
        lines += [
            f"    {host}:",
            "      ansible_connection: ssh",
            "      ansible_host: 127.0.0.1",
            f"      ansible_port: {SSH_PORT[host]}",
            f"      local_vps_container: {host}",
            "      ansible_user: deploy",
            "      vps_bootstrap_user: root",
            f"      ansible_ssh_private_key_file: {KEY}",
            "      ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            "      deploy_user_name: deploy",
            "      deploy_user_authorized_keys:",
            "        - \"{{ lookup('ansible.builtin.file', ansible_ssh_private_key_file ~ '.pub') }}\"",
        ]
    path = inv / "hosts.yml"
    path.write_text("\n".join(lines) + "\n")
    if not (inv / "group_vars").exists():
        (inv / "group_vars").symlink_to(PROJECT_DIR / "inventory" / "group_vars")
    return path


class Runner:
    def __init__(self, tmp, inv):
        self.inv = inv
        self.stock_cfg = Path(tmp) / "stock.cfg"
        self.stock_cfg.write_text(STOCK_CFG)

    def run(self, playbook, extra=None, stock=False, limit=None):
        """(wall seconds, tasks run, output) of one ansible-playbook run."""
        argv = ["ansible-playbook", "-i", str(self.inv), playbook]
        if limit:
            argv += ["--limit", limit]
        if extra:
            argv += ["-e", json.dumps(extra)]
        env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "MOLECULE_PROJECT_DIRECTORY": str(PROJECT_DIR),
               "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}
        if stock:
            env["ANSIBLE_CONFIG"] = str(self.stock_cfg)
        started = time.monotonic()
        done = subprocess.run(argv, cwd=PROJECT_DIR, env=env, text=True, check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout[-4000:]}")
        return wall, len(re.findall(r"^TASK \[", done.stdout, re.MULTILINE)), done.stdout


def task_seconds(output, names):
    """Seconds the named tasks took, from profile_tasks' summary."""
    total = 0.0
    for name in names:
        found = re.search(rf"{re.escape(name)} -+ (\d+\.\d+)s", output)
        total += float(found.group(1)) if found else 0.0
    return total


# ---------------------------------------------------------------- measuring

class Figures:
    """name -> list of measured values, in the order measured."""

    def __init__(self):
        self.values = {}
        self.tasks = {}

    def add(self, name, value, tasks=None):
        self.values.setdefault(name, []).append(value)
        if tasks is not None:
            self.tasks[name] = tasks
        print(f"  {name}: {value:.2f}", file=sys.stderr)

    def median(self, name):
        return statistics.median(self.values[name])


def app(tmp, name, version, extra_files=0, requirements=()):
    src = make_app(Path(tmp) / name, version=version, requirements=requirements)
    for n in range(extra_files):
        path = src / "flaskapp" / "extra" / f"d{n // 100}" / f"f{n}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {n}\n")
    return src


def wrk(host, url):
    """(requests per second, p50 ms, p99 ms) of a bounded wrk run."""
    out = vps(host, f"wrk -t2 -c16 -d10s --latency {url}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(pct):
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.MULTILINE).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    return rps, ms(50), ms(99)


def measure(repeat, tmp):
    figures = Figures()
    KEY.parent.mkdir(parents=True, exist_ok=True)
    if not KEY.exists():
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "flask-vps bench", "-f", str(KEY))
    print("starting 4 local VPSes...", file=sys.stderr)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(start, HOSTS))
    runner = Runner(tmp, inventory(tmp, HOSTS))
    handover = ["ansible-playbook", "-i", str(runner.inv), "playbooks/local_vps_handover.yml"]
    subprocess.run(handover, cwd=PROJECT_DIR, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "MOLECULE_PROJECT_DIRECTORY": str(PROJECT_DIR)})
    one = HOSTS[0]
    v1 = app(tmp, "v1", "1.0.0")

    print("cold site.yml...", file=sys.stderr)
    wall, tasks, _ = runner.run("site.yml", {"app_src": str(v1)}, limit=one)
    figures.add("cold site.yml, 1 host", wall, tasks)
    runner.run("site.yml", {"app_src": str(v1)}, limit=one)  # as deploy: closes root's login
    wall, tasks, _ = runner.run("site.yml", {"app_src": str(v1)}, limit=",".join(HOSTS[1:]))
    figures.add("cold site.yml, 3 hosts at once", wall, tasks)
    runner.run("site.yml", {"app_src": str(v1)}, limit=",".join(HOSTS[1:]))

    print("no-op site.yml: this project's settings and stock ones...", file=sys.stderr)
    for _ in range(repeat):
        for stock in (False, True):
            wall, tasks, out = runner.run("site.yml", {"app_src": str(v1)}, stock=stock, limit=one)
            name = "no-op site.yml, stock Ansible settings" if stock else "no-op site.yml"
            figures.add(name, wall, tasks)

    print("fleet: no-op site.yml over 1, 2 and 4 hosts...", file=sys.stderr)
    for _ in range(repeat):
        for count in (1, 2, 4):
            wall, tasks, _ = runner.run("site.yml", {"app_src": str(v1)}, limit=",".join(HOSTS[:count]))
            figures.add(f"no-op site.yml, {count} host{'s' if count > 1 else ''}", wall, tasks)

    print("naive compose stack next to the app...", file=sys.stderr)
    naive.CONTAINER = one
    naive.vps(f"mkdir -p {naive.NAIVE_DIR}/conf.d && cat > {naive.NAIVE_DIR}/compose.yml", naive.NAIVE_COMPOSE)
    naive.vps(f"cat > {naive.NAIVE_DIR}/conf.d/app.conf", naive.NAIVE_NGINX)
    naive.copy_into_vps(v1, f"{naive.NAIVE_DIR}/app")
    naive.vps(f"cd {naive.NAIVE_DIR} && docker compose up -d --build --wait --quiet-pull 2>&1")

    print("redeploys, rollback, source push...", file=sys.stderr)
    for n in range(repeat):
        code = app(tmp, f"code{n}", f"2.{n}.0")
        wall, tasks, _ = runner.run("playbooks/deploy.yml", {"app_src": str(code)}, limit=one)
        figures.add("code-only redeploy", wall, tasks)
        naive.copy_into_vps(code, f"{naive.NAIVE_DIR}/app")
        started = time.monotonic()
        naive.vps(f"cd {naive.NAIVE_DIR} && docker compose up -d --build --wait 2>&1")
        figures.add("naive docker compose up -d --build", time.monotonic() - started)

        deps = app(tmp, f"deps{n}", f"3.{n}.0", requirements=[f"six=={('1.17.0', '1.16.0', '1.15.0')[n % 3]}"])
        wall, tasks, _ = runner.run("playbooks/deploy.yml", {"app_src": str(deps)}, limit=one)
        figures.add("dependency redeploy", wall, tasks)
        wall, tasks, _ = runner.run("playbooks/rollback.yml", limit=one)
        figures.add("rollback", wall, tasks)

        for files in (25, 2000):
            src = app(tmp, f"push{files}-{n}", f"4.{n}.{files}", extra_files=max(0, files - 25))
            wall, tasks, out = runner.run("playbooks/deploy.yml", {"app_src": str(src)}, limit=one)
            figures.add(f"source push, {files} files", task_seconds(out, PUSH_TASKS))
            figures.add(f"deploy, {files} files", wall, tasks)

    print("serving...", file=sys.stderr)
    vps(one, "command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)")
    release = vps(one, "basename $(readlink /srv/flaskapp/current)").strip()
    address = vps(one, "docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "
                  f"flaskapp-app-{release}").strip()
    targets = {
        "dynamic page through nginx": "http://127.0.0.1/",
        "dynamic page, gunicorn directly": f"http://{address}:8000/",
        "static file through nginx": "http://127.0.0.1/static/style.css",
    }
    for _ in range(repeat):
        for name, url in targets.items():
            rps, p50, p99 = wrk(one, url)
            figures.add(f"{name}: requests/s", rps)
            figures.add(f"{name}: p50 ms", p50)
            figures.add(f"{name}: p99 ms", p99)
    return figures


# ---------------------------------------------------------------- the report

TARGETS = [
    # (what, numerator, denominator, comparison, bound)
    ("no-op site.yml faster than with stock settings", "no-op site.yml, stock Ansible settings", "no-op site.yml", ">=", 2.5),
    ("no-op site.yml / cold site.yml", "no-op site.yml", "cold site.yml, 1 host", "<=", 0.1),
    ("code-only redeploy / naive compose", "code-only redeploy", "naive docker compose up -d --build", "<=", 1.5),
    ("source push, 2,000 / 25 files", "source push, 2000 files", "source push, 25 files", "<=", 2.0),
    ("no-op site.yml, 4 hosts / 1 host", "no-op site.yml, 4 hosts", "no-op site.yml, 1 host", "<=", 1.5),
    ("nginx / gunicorn directly, requests/s", "dynamic page through nginx: requests/s",
     "dynamic page, gunicorn directly: requests/s", ">=", 0.9),
    ("static / dynamic through nginx, requests/s", "static file through nginx: requests/s",
     "dynamic page through nginx: requests/s", ">=", 5.0),
]


def report(figures, repeat, started):
    commit = sh("git", "-C", str(PROJECT_DIR), "rev-parse", "--short", "HEAD").strip()
    lines = [
        "# Performance",
        "",
        f"Measured by `make bench` (benchmarks/perf.py) on {started:%Y-%m-%d}, commit {commit},",
        f"each figure {repeat} time(s), on {os.cpu_count()} cores shared with whatever else ran.",
        "Local Debian 13 VPS containers with their own Docker, reached over SSH like a",
        "real VPS. Pairs are measured side by side in the same run; the machine is",
        "noisy, so compare ratios, not absolute figures across runs.",
        "",
        "Reproduce: `make bench` (`BENCH_REPEAT=1 make bench` for a quicker, noisier run).",
        "",
        "| Figure | Median | Spread (min-max) | Tasks |",
        "|---|---:|---:|---:|",
    ]
    for name, values in figures.values.items():
        unit = "" if ":" in name else " s"
        lines.append(f"| {name} | {statistics.median(values):.2f}{unit} | "
                     f"{min(values):.2f}-{max(values):.2f} | {figures.tasks.get(name, '')} |")
    lines += ["", "## Targets", "", "| Target | Measured | Bound | Met |", "|---|---:|---:|---|"]
    for what, num, den, op, bound in TARGETS:
        ratio = figures.median(num) / figures.median(den)
        met = ratio >= bound if op == ">=" else ratio <= bound
        lines.append(f"| {what} | {ratio:.2f} | {op} {bound} | {'yes' if met else '**no**'} |")
    lines += ["", "![Medians](performance.png)", ""]
    DOC.write_text("\n".join(lines) + "\n")
    chart(figures)
    print("\n".join(lines))


def chart(figures):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [n for n in figures.values if ":" not in n]
    rates = [n for n in figures.values if n.endswith("requests/s")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [3, 1]})
    left.barh(timed, [figures.median(n) for n in timed], color="#4c72b0")
    left.set_xlabel("seconds (median)")
    left.invert_yaxis()
    right.bar([n.split(":")[0].replace(" ", "\n", 2) for n in rates], [figures.median(n) for n in rates], color="#55a868")
    right.set_ylabel("requests/s (median)")
    right.tick_params(axis="x", labelsize=7)
    fig.suptitle("flask-vps: run times and serving")
    fig.tight_layout()
    fig.savefig(CHART, dpi=80)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "3")))
    parser.add_argument("--keep", action="store_true", help="keep the VPS containers")
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.UTC)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures = measure(args.repeat, tmp)
    finally:
        if not args.keep:
            for host in HOSTS:
                subprocess.run(["docker", "rm", "-f", "-v", host], capture_output=True, check=False)
    report(figures, args.repeat, started)


if __name__ == "__main__":
    main()
