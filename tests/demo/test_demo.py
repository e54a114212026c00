"""The README's first command, `make demo`, as a new user runs it: in a
checkout with nothing built, on a Docker engine with no image at all, a local
VPS container set up from nothing, the app answering on its port, and a
second run that changes nothing. It runs its own VPS (its own name and
ports), so a demo already running here is left alone."""

import subprocess
import urllib.request

from demo_vps import CHECKOUT, DEMO, demo, images, recaps


def test_first_run_builds_the_images_sets_up_the_vps_and_serves_the_app(first_run, docker_host):
    # The images it needs, built on an engine that had none.
    assert {"flask-vps/vps:13", "flask-vps/python:3.13-slim", "flask-vps/nginx:1.26",
            "flask-vps/postgres:17"} <= set(images(docker_host))
    # The handover, then site.yml twice (as root, then as the deploy user).
    assert len(recaps(first_run)) == 3, first_run[-3000:]
    with urllib.request.urlopen(f"http://127.0.0.1:{DEMO['DEMO_PORT']}/", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Server"] == "nginx"
        assert 'id="version">1.0.0<' in response.read().decode()


def test_second_run_changes_nothing(first_run, docker_host):
    """The whole `make demo` again, images included. Reproduction: on a
    machine with no images, the second run rebuilt the nginx and PostgreSQL
    images with new ids (parallel builds racing on Docker's layer cache),
    rewrote their archives and reported changed=1 ("Copy base image
    archives")."""
    output = demo(docker_host, ["make", "--no-print-directory", "demo"])
    assert recaps(output) == [0, 0], output[-3000:]


def test_a_rebuilt_base_image_reaches_the_vps(first_run, docker_host):
    """A base image built anew (here the nginx stand-in, from a changed
    Dockerfile) gets a new archive, and the next `make demo` loads it on the
    VPS. Reproduction: "Load base images" loaded only a missing tag, so the
    VPS kept the old image under the same name."""
    def image_id(*inside):
        return subprocess.run(["docker", "-H", docker_host, *inside, "image", "inspect", "-f", "{{.Id}}",
                               "flask-vps/nginx:1.26"], check=True, text=True, stdout=subprocess.PIPE).stdout.strip()
    on_vps = ("exec", DEMO["DEMO_NAME"], "docker")
    before = image_id(*on_vps)
    dockerfile = CHECKOUT / "lab" / "images" / "nginx" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + 'LABEL flask-vps.test="rebuilt"\n')
    output = demo(docker_host, ["make", "--no-print-directory", "demo"])
    assert image_id() != before
    assert image_id(*on_vps) == image_id(), output[-3000:]
