"""Load on a VPS container, from inside it, while a playbook or command runs
(the redeploy tests and lab/benchmarks/redeploy.py)."""

import json
import subprocess
import time
from pathlib import Path

LOADGEN = Path(__file__).with_name("loadgen.py")


class Load:
    """A bounded load generator running inside `container` for the length of
    a `with` block; `.result` holds its counts afterwards. Two clients, each
    a request every 50 ms or so, probe the site continuously without taking
    the CPU the deploy under test needs (the benchmarks ask for more)."""

    def __init__(self, container, url="http://127.0.0.1/api/client", clients=2, max_seconds=600, cafile=None,
                 host_header=None):
        self.argv = [
            "docker", "exec", "-i", container, "python3", "-c", LOADGEN.read_text(),
            "--url", url, "--clients", str(clients), "--max-seconds", str(max_seconds),
            *(["--cafile", cafile] if cafile else []),
            *(["--host-header", host_header] if host_header else []),
        ]
        self.result = None

    def __enter__(self):
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # Wait until the clients run, so the load covers the whole block.
        line = self.process.stderr.readline()
        assert "started" in line, line
        time.sleep(1)
        return self

    def __exit__(self, *exc):
        time.sleep(1)
        out, err = self.process.communicate("", timeout=120)
        assert self.process.returncode == 0, err
        self.result = json.loads(out)
        return False


def assert_no_failures(load):
    """A load that ran long enough saw only 2xx answers and no connection errors."""
    result = load.result
    print("load:", result)
    assert result["requests"] > 50, result
    assert result["non_2xx"] == 0, result
    assert result["errors"] == 0, result
