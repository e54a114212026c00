#!/usr/bin/env python3
"""Performance benchmarks of flask-vps on local VPS containers, written to
docs/performance.md and docs/performance.png (`make bench`).

Every VPS is a Debian 13 container (flask-vps/vps:13, see
lab/scripts/build-images.sh) named bench-*, handed over like `make demo` does
(lab/local_vps_handover.yml) and reached over SSH on 127.0.0.1 (ports
19000-19099), so that Ansible's SSH settings count as on a real VPS. The
containers are removed at the end.

Groups of figures (BENCH_ONLY, comma-separated; default all):

  runs     cold site.yml on a fresh VPS, no-op rerun, code-only redeploy
           (site.yml, and playbooks/deploy.yml alone),
           dependency redeploy, rollback; the no-op run and the code
           redeploy also with Ansible's stock settings and (no-op) with the
           project's settings but Ansible's linear strategy instead of
           Mitogen's; the naive `docker compose up -d --build`
  serving  wrk inside the VPS: dynamic page through nginx and gunicorn
           direct, a static file through nginx
  push     deploy of an app of 25 files against one of BENCH_FILES (2,000)
  fleet    cold site.yml on 1, 2 and 4 VPS containers in one run
  rolling  the multi-host layout (README) with 1, 2 and 4 app hosts behind
           a load balancer and a PostgreSQL host: a code-only rolling
           release (playbooks/deploy.yml) after one cold site.yml; its
           containers (bench-roll-*) are on the Docker network
           bench-roll-net (10.177.88.0/24) with SSH on 127.0.0.1:18460-18479

serving and push reuse the VPS the runs group leaves deployed (or deploy one).

Each figure is measured BENCH_REPEAT (3) times, the members of a pair one
after the other in each repeat (their order alternating), and reported as
median and min-max. Results are kept per group in lab/benchmarks/results/, next
to the doc made from them and committed with it, so one group can be measured
again alone; the doc is rewritten from all of them.
BENCH_NOTE is printed in the doc next to the groups measured (conditions of
the run worth knowing). The doc's words are in lab/benchmarks/performance.md.j2,
which report() fills in with the figures.

    make bench
    BENCH_REPEAT=1 BENCH_ONLY=runs,serving make bench
    python lab/benchmarks/perf.py --report     # rewrite the doc only
"""

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jinja2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "molecule" / "shared"))
sys.path.insert(0, str(HERE))
from redeploy import NAIVE_COMPOSE, NAIVE_DIR, NAIVE_NGINX

from load import Load
from stack import PROJECT_DIR, make_app, recap, start_vps

GROUPS = ("runs", "serving", "push", "fleet", "rolling")
CACHE = PROJECT_DIR / ".cache" / "bench"
RESULTS = HERE / "results"
KEY = CACHE / "ssh" / "id_ed25519"
DOC = PROJECT_DIR / "docs" / "performance.md"
CHART = PROJECT_DIR / "docs" / "performance.png"
# The words of the doc, around the figures report() works out.
PAGE = HERE / "performance.md.j2"
PORT_BASE = 19000
# The rolling group's containers: their own network, fixed addresses (each
# host's vps_private_address) and SSH ports.
ROLL_NETWORK = "bench-roll-net"
ROLL_SUBNET = "10.177.88.0/24"
ROLL_PORT_BASE = 18460
WRK = "wrk -t2 -c16 -d10s --latency"

# `make test` is timed by fresh-clone runs of `bash .ci/run`, not by make
# bench: its minutes in each such run since the last change to what the tests
# run (45ec4c7 moved one task; 6bb13df added docs only). The targets table
# shows their median; the page lists each of them where it says why the
# target is missed.
TEST_COMMAND_RUNS = {
    "8e15c10": 27.3,  # 27 min 18 s, images built, nothing else running
    "6bb13df": 32.8,  # 32 min 47 s
    "45ec4c7": 23.6,  # 1415 s, the CI run of the commit
    "7bb7dc0": 30.3,  # 30 min 19 s (docs and benchmark only on top of 45ec4c7)
    "65f1292": 28.7,  # 28 min 39 s (the same)
}
TEST_COMMAND_MINUTES = statistics.median(TEST_COMMAND_RUNS.values())


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def sh(*argv, stdin=None, check=True):
    done = subprocess.run(argv, input=stdin, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if check and done.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])}... failed:\n{done.stdout[-3000:]}")
    return done.stdout


# ---------------------------------------------------------------- the VPS


STARTED = set()


class Vps:
    """A local VPS container, reached over SSH on 127.0.0.1:<ssh_port>."""

    def __init__(self, name, ssh_port, network=None, address=None):
        self.name = name
        self.ssh_port = ssh_port
        # On a network of its own with a fixed address (the rolling group).
        self.network = network
        self.address = address
        STARTED.add(name)

    def start(self):
        options = ["-p", f"127.0.0.1:{self.ssh_port}:22"]
        if self.network:
            options += ["--network", self.network, "--ip", self.address]
        start_vps(self.name, *options)
        return self

    def remove(self):
        subprocess.run(["docker", "rm", "-f", "-v", self.name], capture_output=True, check=False)

    def run(self, script, stdin=None, check=True):
        return sh("docker", "exec", "-i", self.name, "bash", "-ec", script, stdin=stdin, check=check)


def write_inventory(directory, hosts, groups=None, host_vars=None, vps_vars=None):
    """An inventory like lab/inventory/local.yml, for any number of bench VPSs;
    with `groups` (name -> hosts, e.g. lb, web, db of the multi-host layout),
    `host_vars` (host name -> variables) and `vps_vars` (variables of the
    group vps) if given."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["vps:", "  hosts:"] + [f"    {h.name}:" for h in hosts]
    if vps_vars:
        lines += ["  vars:"] + [f"    {key}: {json.dumps(value)}" for key, value in vps_vars.items()]
    for group, members in (groups or {}).items():
        lines += [f"{group}:", "  hosts:"] + [f"    {h.name}:" for h in members]
    lines += ["local_vps:", "  hosts:"]
    for h in hosts:
        lines += [
            f"    {h.name}:",
            "      ansible_connection: ssh",
            "      ansible_host: 127.0.0.1",
            f"      ansible_port: {h.ssh_port}",
            f"      local_vps_container: {h.name}",
            "      ansible_user: deploy",
            "      vps_bootstrap_user: root",
            f"      ansible_ssh_private_key_file: {KEY}",
            # Every bench VPS is new, with new host keys.
            "      ansible_host_key_checking: false",
            "      ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            "      deploy_user_name: deploy",
            "      deploy_user_authorized_keys:",
            f"        - \"{{{{ lookup('ansible.builtin.file', '{KEY}.pub') }}}}\"",
        ]
        lines += [f"      {key}: {json.dumps(value)}" for key, value in (host_vars or {}).get(h.name, {}).items()]
    (directory / "hosts.yml").write_text("---\n" + "\n".join(lines) + "\n")
    group_vars = directory / "group_vars"
    if not group_vars.exists():
        group_vars.symlink_to(PROJECT_DIR / "lab" / "inventory" / "group_vars")
    return directory


# ---------------------------------------------------------------- Ansible runs


class Ansible:
    """ansible-playbook runs against one inventory, with the project's
    settings, Ansible's stock settings, or the project's settings with
    Ansible's linear strategy instead of Mitogen's ("linear")."""

    def __init__(self, inventory, tmp):
        self.inventory = inventory
        self.stock_cfg = Path(tmp) / "stock.cfg"
        # Only what is needed to run at all: where the roles and the collection
        # (their modules and filters, flask_vps.stack) are.
        collections = f"{PROJECT_DIR / '.venv' / 'collections'}:~/.ansible/collections"
        self.stock_cfg.write_text(f"[defaults]\nroles_path = {PROJECT_DIR / 'roles'}\n"
                                  f"collections_path = {collections}\n")

    def env(self, settings):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
                   PROFILE_TASKS_TASK_OUTPUT_LIMIT="all", PROFILE_TASKS_SORT_ORDER="none")
        if settings == "stock":
            env["ANSIBLE_CONFIG"] = str(self.stock_cfg)
        else:
            env["ANSIBLE_CONFIG"] = str(PROJECT_DIR / "ansible.cfg")
        if settings == "linear":
            env["ANSIBLE_STRATEGY"] = "linear"
        return env

    def play(self, playbook, app=None, settings="project", check=True, extra=None):
        """Run a playbook; returns a dict of wall time, task count and recap."""
        extra_vars = {"local_vps_project_dir": str(PROJECT_DIR), **(extra or {})}
        if app:
            extra_vars["app_src"] = str(app)
        argv = ["ansible-playbook", "-i", str(self.inventory), playbook, "-e", json.dumps(extra_vars)]
        started = time.monotonic()
        done = subprocess.run(argv, cwd=PROJECT_DIR, env=self.env(settings), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        wall = time.monotonic() - started
        out = done.stdout
        result = {"wall": round(wall, 2), "rc": done.returncode, "tasks": len(re.findall(r"^TASK \[", out, re.MULTILINE))}
        try:
            result["recap"] = recap(out)
        except IndexError:
            result["recap"] = {}
        push = [task_time(out, name) for name in PUSH_TASKS]
        result["push"] = round(sum(push), 2) if None not in push else None
        log(f"{playbook} [{settings}] {wall:.1f} s rc={done.returncode} tasks={result['tasks']} {result['recap']}")
        if done.returncode:
            result["error"] = error_of(out)
            if check:
                raise RuntimeError(f"{playbook} failed:\n{out[-5000:]}")
        return result


# The source push: packed on the controller, one archive copied, unpacked.
PUSH_TASKS = ("Package the app source", "Copy the app source archive", "Unpack the app source")


def task_time(output, name):
    """Seconds of a task from profile_tasks' summary (summed over hosts' lines)."""
    times = re.findall(rf"^.*{re.escape(name)} -+ (\d+\.\d+)s", output, re.MULTILINE)
    return float(times[-1]) if times else None


def error_of(output):
    """The first lines of the first error in a failed run's output."""
    for marker in ("ERROR!", "[ERROR]", "fatal:", "FAILED!", "Traceback"):
        at = output.find(marker)
        if at >= 0:
            return " ".join(output[at:at + 600].split())[:400]
    return " ".join(output[-400:].split())


def handover(ansible):
    ansible.play("lab/local_vps_handover.yml")


# ---------------------------------------------------------------- apps


class Apps:
    """Distinct versions of the sample app, so every deploy is a new release."""

    def __init__(self, tmp):
        # A directory per group: the groups of one run share `tmp`.
        self.tmp = Path(tempfile.mkdtemp(prefix="apps-", dir=tmp))
        self.count = 0

    def new(self, files=None, requirements=()):
        self.count += 1
        dest = self.tmp / f"app{self.count}"
        make_app(dest, version=f"1.{self.count}.0", requirements=requirements)
        if files:
            add_files(dest, files)
        return dest


def add_files(app, total):
    """Extra small modules under extra/ until the app has `total` files."""
    have = sum(1 for p in app.rglob("*") if p.is_file())
    extra = app / "extra"
    extra.mkdir(exist_ok=True)
    for i in range(total - have):
        (extra / f"m{i:04d}.py").write_text(f'"""Generated module {i}."""\nVALUE = {i}\n')


# ---------------------------------------------------------------- groups


def fresh_deployed(name, port, tmp, apps):
    """A new VPS, handed over, with site.yml run twice (as make demo does on a
    new VPS); returns (vps, ansible, first run, second run)."""
    vps = Vps(name, port).start()
    ansible = Ansible(write_inventory(Path(tmp) / name, [vps]), tmp)
    handover(ansible)
    cold = ansible.play("site.yml", apps.new())
    second = ansible.play("site.yml", apps.new())
    return vps, ansible, cold, second


# A deployed VPS that later groups of the same run reuse (push and serving
# need one but not a fresh one): the last one the runs group made, or a new one.
SHARED = {}


def deployed(tmp):
    if not SHARED:
        apps = Apps(tmp)
        vps, ansible, _, _ = fresh_deployed("bench-shared", PORT_BASE + 20, tmp, apps)
        SHARED.update(vps=vps, ansible=ansible, apps=apps)
    return SHARED["vps"], SHARED["ansible"], SHARED["apps"]


def naive_setup(vps, app):
    vps.run(f"mkdir -p {NAIVE_DIR}/conf.d && cat > {NAIVE_DIR}/compose.yml", NAIVE_COMPOSE)
    vps.run(f"cat > {NAIVE_DIR}/conf.d/app.conf", NAIVE_NGINX)
    naive_copy(vps, app)
    vps.run(f"cd {NAIVE_DIR} && docker compose up -d --build --wait --quiet-pull 2>&1")


def naive_copy(vps, app):
    vps.run(f"rm -rf {NAIVE_DIR}/app && mkdir -p {NAIVE_DIR}/app")
    sh("docker", "cp", f"{app}/.", f"{vps.name}:{NAIVE_DIR}/app")
    vps.run(f"find {NAIVE_DIR}/app -exec touch {{}} +")


def under_load(vps, port, action):
    with Load(vps.name, url=f"http://127.0.0.1:{port}/api/client", clients=4) as load:
        result = action()
    result["load"] = {"requests": load.result["requests"], "failed": load.result["failed"],
                      "statuses": load.result.get("statuses", {})}
    return result


def group_runs(repeat, tmp):
    """Figures 1 and 2: the runs users make, with this project's and stock
    Ansible settings, interleaved."""
    apps = Apps(tmp)
    rows = []
    for i in range(repeat):
        log(f"runs: repeat {i + 1}/{repeat}")
        vps, ansible, cold, second = fresh_deployed("bench-runs", PORT_BASE + 10, tmp, apps)
        row = {"cold": cold, "second": second}
        noop_app = apps.tmp / f"app{apps.count}"
        order = ["project", "stock", "linear"] if i % 2 == 0 else ["linear", "stock", "project"]
        for settings in order:
            row[f"noop_{settings}"] = ansible.play("site.yml", noop_app, settings)
        naive_setup(vps, noop_app)
        order = ["project", "deploy", "stock", "naive"]
        for kind in order if i % 2 == 0 else reversed(order):
            app = apps.new()
            if kind == "naive":
                def naive(app=app, vps=vps):
                    naive_copy(vps, app)
                    started = time.monotonic()
                    vps.run(f"cd {NAIVE_DIR} && docker compose up -d --build 2>&1")
                    return {"wall": round(time.monotonic() - started, 2)}
                row["code_naive"] = under_load(vps, 8080, naive)
                log(f"naive compose up --build {row['code_naive']}")
            else:
                # "deploy": the deploy play alone, with the project's settings.
                playbook, settings = ("playbooks/deploy.yml", "project") if kind == "deploy" else ("site.yml", kind)
                row[f"code_{kind}"] = under_load(vps, 80, lambda app=app, playbook=playbook, settings=settings,
                                                 ansible=ansible: ansible.play(playbook, app, settings))
        row["deps_project"] = under_load(
            vps, 80, lambda ansible=ansible: ansible.play("site.yml", apps.new(requirements=["itsdangerous"])))
        row["rollback_project"] = under_load(vps, 80, lambda ansible=ansible: ansible.play("playbooks/rollback.yml"))
        rows.append(row)
        if i < repeat - 1:
            vps.remove()
    SHARED.update(vps=vps, ansible=ansible, apps=apps)
    return rows


def group_push(repeat, tmp, files):
    """Figure 3: deploy (playbooks/deploy.yml) of an app of 25 files and of
    `files` files; profile_tasks times the push task."""
    _, ansible, apps = deployed(tmp)
    rows = []
    for i in range(repeat):
        log(f"push: repeat {i + 1}/{repeat}")
        row = {}
        for count in ((25, files) if i % 2 == 0 else (files, 25)):
            row[str(count)] = ansible.play("playbooks/deploy.yml", apps.new(files=count))
        rows.append(row)
    return rows


def group_fleet(repeat, tmp, sizes=(1, 2, 4)):
    """Figure 4: cold site.yml on N fresh VPS containers in one run."""
    apps = Apps(tmp)
    app = apps.new()
    rows = []
    for i in range(repeat):
        row = {}
        for n in (sizes if i % 2 == 0 else tuple(reversed(sizes))):
            log(f"fleet: repeat {i + 1}/{repeat}, {n} hosts")
            hosts = [Vps(f"bench-fleet{k}", PORT_BASE + 30 + k) for k in range(n)]
            try:
                for h in hosts:
                    h.start()
                ansible = Ansible(write_inventory(Path(tmp) / f"fleet{n}-{i}", hosts), tmp)
                handover(ansible)
                row[str(n)] = ansible.play("site.yml", app)
            finally:
                for h in hosts:
                    h.remove()
        rows.append(row)
    return rows


# The rolling group's settings: molecule/fleet/group_vars/all.yml's without
# TLS (the load balancer answers plain HTTP on :80).
ROLL_VARS = {
    "app_postgres": True,
    "app_release_command": "flask --app wsgi init-db",
    "app_secrets": {"secret_key": "bench-roll-secret-1"},
    "app_healthcheck_interval": "2s",
    "app_healthcheck_retries": 2,
    "app_healthcheck_start_period": "10s",
    "app_deploy_timeout": 60,
    "app_gunicorn_graceful_timeout": 10,
}


# The version an app host's nginx serves, asked on the host itself.
SERVED_VERSION = ("python3 -c 'import json, urllib.request; "
                  "print(json.load(urllib.request.urlopen(\"http://127.0.0.1/api/client\", timeout=10))[\"version\"])'")


def roll_hosts(n):
    """One load balancer, n app hosts and a PostgreSQL host on ROLL_NETWORK,
    as {"lb": [...], "web": [...], "db": [...]}."""
    prefix = ROLL_SUBNET.rsplit(".", 1)[0]
    def host(name, k):
        return Vps(f"bench-roll-{name}", ROLL_PORT_BASE + k, ROLL_NETWORK, f"{prefix}.{10 + k}")
    return {"lb": [host("lb", 0)],
            "web": [host(f"web{k}", k) for k in range(1, n + 1)],
            "db": [host("db", 19)]}


def roll_inventory(directory, layout):
    hosts = [h for members in layout.values() for h in members]
    host_vars = {h.name: {"vps_private_address": h.address} for h in hosts}
    # As molecule/fleet/host_vars: HAProxy comes from Debian's archive (no
    # image to load); the db host needs PostgreSQL's image only.
    host_vars[layout["lb"][0].name]["app_image_archives"] = []
    host_vars[layout["db"][0].name]["app_image_archives"] = ["{{ local_vps_postgres_archive }}"]
    return write_inventory(directory, hosts, groups=layout, host_vars=host_vars, vps_vars=ROLL_VARS)


def group_rolling(repeat, tmp, sizes=(1, 2, 4)):
    """Figure 6: a code-only rolling release (playbooks/deploy.yml, app_serial
    1) over N app hosts behind the load balancer, under load through it; each
    N on a new layout converged once with site.yml (timed too, once)."""
    apps = Apps(tmp)
    rows = [{} for _ in range(repeat)]
    subprocess.run(["docker", "network", "rm", ROLL_NETWORK], capture_output=True, check=False)
    sh("docker", "network", "create", "--subnet", ROLL_SUBNET, ROLL_NETWORK)
    try:
        for n in sizes:
            layout = roll_hosts(n)
            hosts = [h for members in layout.values() for h in members]
            try:
                log(f"rolling: {n} app host(s): starting {', '.join(h.name for h in hosts)}")
                for h in hosts:
                    h.start()
                ansible = Ansible(roll_inventory(Path(tmp) / f"rolling{n}", layout), tmp)
                handover(ansible)
                rows[0][f"cold_{n}"] = ansible.play("site.yml", apps.new())
                lb = layout["lb"][0]
                for i in range(repeat):
                    log(f"rolling: {n} app host(s), repeat {i + 1}/{repeat}")
                    app = apps.new()
                    rows[i][str(n)] = under_load(
                        lb, 80, lambda app=app, ansible=ansible: ansible.play("playbooks/deploy.yml", app))
                    # Every app host serves the new release afterwards.
                    version = f"1.{apps.count}.0"
                    served = [web.run(SERVED_VERSION).strip() for web in layout["web"]]
                    rows[i][str(n)]["all_switched"] = served == [version] * n
                    log(f"rolling: {n} app host(s) serve {served} (released {version})")
            finally:
                for h in hosts:
                    h.remove()
    finally:
        subprocess.run(["docker", "network", "rm", ROLL_NETWORK], capture_output=True, check=False)
    return rows


def wrk(vps, url):
    out = vps.run(f"{WRK} {url}")
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\b", out, re.MULTILINE).groups()
        result[f"p{pct}_ms"] = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    result["non_2xx"] = int(bad.group(1)) if bad else 0
    result["socket_errors"] = errors.group(0) if errors else ""
    return result


def group_serving(repeat, tmp):
    """Figure 5: wrk inside the VPS, with the role's default worker settings."""
    vps, _, _ = deployed(tmp)
    vps.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1 "
            "|| (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null)")
    live = vps.run("tail -n 1 /srv/flaskapp/history").split()[-1]

    def address(container):
        return vps.run("docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "
                       f"{container}").split()[0]

    # nginx and gunicorn each at their container's address, as traffic from
    # outside the VPS reaches nginx (Docker's NAT in the kernel); and nginx
    # on 127.0.0.1 too, where Docker's userland proxy (docker-proxy) relays
    # every connection: a cost only clients on the VPS itself pay.
    targets = {
        "nginx_dynamic": f"http://{address('web-front-nginx-1')}/",
        "gunicorn_dynamic": f"http://{address(f'flaskapp-app-{live}')}:8000/",
        "nginx_static": f"http://{address('web-front-nginx-1')}/static/style.css",
        "nginx_loopback_dynamic": "http://127.0.0.1/",
    }
    rows = []
    for i in range(repeat):
        log(f"serving: repeat {i + 1}/{repeat}")
        names = list(targets) if i % 2 == 0 else list(reversed(targets))
        rows.append({name: wrk(vps, targets[name]) for name in names})
    return rows


# ---------------------------------------------------------------- report


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s, unit="s", digits=1):
    if not s:
        return "n/a"
    if s["n"] == 1:
        return f"{s['median']:.{digits}f} {unit}".strip()
    return f"{s['median']:.{digits}f} {unit}".strip() + f" ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def load_results():
    results = {}
    for group in GROUPS:
        path = RESULTS / f"{group}.json"
        if path.exists():
            results[group] = json.loads(path.read_text())
    return results


def col(rows, key, field="wall"):
    values = []
    for row in rows:
        entry = row.get(key)
        if entry and entry.get("rc", 0) == 0:
            values.append(entry.get(field))
    return stats(values)


def changed(rows, key):
    """The `changed` count of each run of `key` whose recap was read."""
    return [row[key]["recap"].get("changed") for row in rows if row.get(key, {}).get("recap")]


def ratio(a, b):
    if not a or not b or not b["median"]:
        return None
    return a["median"] / b["median"]


def target(name, value, op, aim, **figures):
    """A row of the targets table: met when the measured `value` is `op`
    (">=" or "<=") `aim`, None when not measured. `name` picks its words in
    the template; `figures` are any these words need (the push target's
    file count)."""
    row = {"name": name, "op": op, "aim": aim, "met": None, **figures}
    if value is None:
        return row
    row["met"] = value >= aim if op == ">=" else value <= aim
    row["shown"] = f"{value}" if isinstance(value, int) else f"{value:.2f}"
    # How many times the aim a missed figure is off, where that is a number.
    row["off"] = (aim / value if op == ">=" else value / aim) if value and aim else None
    return row


# The runs of a repeat of the runs group, a row each in the runs table.
RUNS = ("cold", "second", "noop_project", "noop_stock", "noop_linear", "code_project", "code_stock",
        "code_deploy", "code_naive", "deps_project", "rollback_project")
# wrk's targets in the serving group, a row each in the serving table.
SERVED = ("nginx_dynamic", "gunicorn_dynamic", "nginx_static", "nginx_loopback_dynamic")


def report(results):
    """Rewrite the doc from the results: the figures are worked out here and
    handed to the template (PAGE), which holds the words. A group without
    results is None there and its section left out."""
    page = dict.fromkeys(GROUPS)
    page.update(groups={group: data["meta"] for group, data in results.items()},
                notes={group: data["meta"]["note"] for group, data in results.items() if data["meta"].get("note")},
                wrk=WRK, test_command_runs=TEST_COMMAND_RUNS, test_command_minutes=TEST_COMMAND_MINUTES)
    targets = []
    chart = {}

    if "runs" in results:
        rows = results["runs"]["rows"]
        page["runs"] = {}
        for key in RUNS:
            failed = [r[key]["load"]["failed"] for r in rows if key in r and "load" in r[key]]
            page["runs"][key] = {"wall": col(rows, key), "tasks": col(rows, key, "tasks"),
                                 "changed": stats(changed(rows, key)), "failed": sum(failed) if failed else None}
        noop, stock, cold = col(rows, "noop_project"), col(rows, "noop_stock"), col(rows, "cold")
        code, naive = col(rows, "code_project"), col(rows, "code_naive")
        code_failed = sum(r[key]["load"]["failed"] for r in rows for key in ("code_project", "code_deploy") if key in r)
        noop_changed = changed(rows, "noop_project")
        targets += [
            target("noop_seconds", noop["median"] if noop else None, "<=", 30),
            target("noop_changed", max(noop_changed) if noop_changed else None, "<=", 0),
            target("noop_stock_ratio", ratio(stock, noop), ">=", 2.5),
            target("noop_cold_ratio", ratio(noop, cold), "<=", 0.1),
            target("code_naive_ratio", ratio(code, naive), "<=", 1.5),
            target("code_failed", code_failed, "<=", 0),
        ]
        if "code_deploy" in rows[0]:
            targets.append(target("deploy_naive_ratio", ratio(col(rows, "code_deploy"), naive), "<=", 1.5))
        chart["Runs (s)"] = [
            ("cold", col(rows, "cold")), ("no-op", noop), ("no-op\nstock", stock),
            ("no-op\nlinear", col(rows, "noop_linear")),
            ("code", code), ("code\nstock", col(rows, "code_stock")),
            ("code\ndeploy", col(rows, "code_deploy")), ("naive\ncompose", naive),
            ("deps", col(rows, "deps_project")), ("rollback", col(rows, "rollback_project")),
        ]

    if "push" in results:
        rows = results["push"]["rows"]
        counts = sorted({int(k) for row in rows for k in row})
        page["push"] = [{"files": n, "push": col(rows, str(n), "push"), "wall": col(rows, str(n))} for n in counts]
        if len(counts) == 2:
            targets.append(target("push_ratio", ratio(col(rows, str(counts[1]), "push"), col(rows, "25", "push")),
                                  "<=", 2, files=counts[1]))
        chart["Source push task (s)"] = [(f"{n:,} files", col(rows, str(n), "push")) for n in counts]

    if "fleet" in results:
        rows = results["fleet"]["rows"]
        sizes = sorted({int(k) for row in rows for k in row})
        page["fleet"] = [{"hosts": n, "wall": col(rows, str(n)), "tasks": col(rows, str(n), "tasks")} for n in sizes]
        if 1 in sizes and 4 in sizes:
            targets.append(target("fleet_ratio", ratio(col(rows, "4"), col(rows, "1")), "<=", 1.5))
        chart["Fleet, cold site.yml (s)"] = [(f"{n} host{'s' if n > 1 else ''}", col(rows, str(n))) for n in sizes]

    if "rolling" in results:
        rows = results["rolling"]["rows"]
        sizes = sorted({int(k) for row in rows for k in row if k.isdigit()})
        page["rolling"] = {"sizes": []}
        for n in sizes:
            key = str(n)
            runs = [r[key] for r in rows if key in r]
            failed = [e["load"]["failed"] for e in runs if "load" in e]
            page["rolling"]["sizes"].append({
                "hosts": n, "wall": col(rows, key), "tasks": col(rows, key, "tasks"),
                "per_host": stats([e["wall"] / n for e in runs if e.get("rc", 0) == 0]),
                "failed": sum(failed) if failed else None,
                "switched": sum(1 for e in runs if e.get("all_switched")), "runs": len(runs),
                "cold": col(rows, f"cold_{n}")})
        # A roll over one app host that failed requests: the template explains why.
        page["rolling"]["one_host_failed"] = any(r["1"].get("load", {}).get("failed") for r in rows if "1" in r)
        one = col(rows, "1")
        page["rolling"]["ratios"] = [(n, ratio(col(rows, str(n)), one)) for n in sizes
                                     if n > 1 and ratio(col(rows, str(n)), one)]
        chart["Rolling release (s)"] = [(f"{n} app host{'s' if n > 1 else ''}", col(rows, str(n))) for n in sizes]

    if "serving" in results:
        rows = results["serving"]["rows"]
        page["serving"] = {key: {"rps": col(rows, key, "rps"), "p50_ms": col(rows, key, "p50_ms"),
                                 "p99_ms": col(rows, key, "p99_ms"),
                                 "non_2xx": sum(r[key]["non_2xx"] for r in rows if key in r)} for key in SERVED}
        nginx, direct, static = (col(rows, k, "rps") for k in ("nginx_dynamic", "gunicorn_dynamic", "nginx_static"))
        targets += [target("nginx_direct_ratio", ratio(nginx, direct), ">=", 0.9),
                    target("static_dynamic_ratio", ratio(static, nginx), ">=", 5)]
        chart["Serving (requests/s)"] = [("nginx\ndynamic", nginx), ("gunicorn\ndirect", direct), ("nginx\nstatic", static)]

    targets.append(target("make_test", TEST_COMMAND_MINUTES, "<=", 25))
    page["targets"] = targets
    page["chart"] = None
    if chart:
        draw(chart)
        page["chart"] = os.path.relpath(CHART, DOC.parent)
    DOC.write_text(render(page))
    log(f"wrote {DOC}")


def render(page):
    """The doc from PAGE and the figures of report(). trim_blocks and
    lstrip_blocks drop the lines that hold only a tag, so that the template
    reads like the page; an undefined name is an error rather than an empty
    cell."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(PAGE.parent), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(fmt=fmt, thousands="{:,}".format)
    return env.get_template(PAGE.name).render(page)


def draw(chart):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chart = {title: [(label, s) for label, s in bars if s] for title, bars in chart.items()}
    # A panel's width follows its number of bars, so that their labels fit.
    widths = [max(3, len(bars)) for bars in chart.values()]
    fig, axes = plt.subplots(1, len(chart), figsize=(1.2 * sum(widths) + 2, 4.2), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, (title, bars) in zip(axes[0], chart.items(), strict=True):
        medians = [s["median"] for _, s in bars]
        low = [s["median"] - s["min"] for _, s in bars]
        high = [s["max"] - s["median"] for _, s in bars]
        ax.bar(range(len(bars)), medians, yerr=[low, high], capsize=4, color="#4c78a8")
        ax.set_xticks(range(len(bars)), [label for label, _ in bars], fontsize=8)
        ax.set_title(title, fontsize=10)
        for x, m in enumerate(medians):
            ax.annotate(f"{m:.0f}" if m >= 10 else f"{m:.1f}", (x, m), ha="center", va="bottom", fontsize=7)
    fig.tight_layout()
    fig.savefig(CHART, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- main


def machine():
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} cores, load {load:.1f} at start"


def commit():
    rev = sh("git", "-C", str(PROJECT_DIR), "rev-parse", "--short", "HEAD").strip()
    # The doc, the chart and the results are this script's own output: an
    # earlier group of the same run has rewritten them.
    own = (DOC, CHART, RESULTS)
    dirty = sh("git", "-C", str(PROJECT_DIR), "status", "--porcelain", "--untracked-files=no", "--",
               ".", *(f":!{path.relative_to(PROJECT_DIR)}" for path in own)).strip()
    return rev + ("+changes" if dirty else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT") or 3))
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY") or ",".join(GROUPS))
    parser.add_argument("--files", type=int, default=int(os.environ.get("BENCH_FILES") or 2000))
    parser.add_argument("--report", action="store_true", help="only rewrite the doc from earlier results")
    args = parser.parse_args()
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {', '.join(sorted(unknown))}; known: {', '.join(GROUPS)}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    failed = []
    if not args.report:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            try:
                for group in [g for g in GROUPS if g in groups]:
                    try:
                        measure(group, args, tmp)
                    except Exception as exc:  # noqa: BLE001 -- the other groups still run
                        log(f"{group} failed: {exc}")
                        failed.append(group)
            finally:
                for name in STARTED:
                    subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
    report(load_results())
    if failed:
        sys.exit(f"failed: {', '.join(failed)} (earlier results of these groups are kept in the doc)")


def measure(group, args, tmp):
    meta = {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit(), "repeat": args.repeat, "machine": machine(),
            "note": os.environ.get("BENCH_NOTE", "")}
    started = time.monotonic()
    if group == "push":
        rows = group_push(args.repeat, tmp, args.files)
    else:
        rows = globals()[f"group_{group}"](args.repeat, tmp)
    meta["minutes"] = round((time.monotonic() - started) / 60, 1)
    (RESULTS / f"{group}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    log(f"{group}: done in {meta['minutes']} min")
    report(load_results())

if __name__ == "__main__":
    shutil.which("ansible-playbook") or sys.exit("ansible-playbook not found: run `make bench` or activate .venv")
    main()
