"""The container image of deploy/Dockerfile, built with buildah and run on this machine.

No image registry is reachable here, so the base is made locally (deploy/local-base:
debootstrap, kept in the container storage between runs). `buildah bud --isolation chroot`
builds; `buildah run --isolation chroot` runs the image's command on the host network
(`podman run` cannot run in this sandbox). Skipped where buildah is absent, except under CI.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import USERS, course_user
from tests.live_server import ROOT, free_port

BASE = "localhost/users-api-base:bookworm"
IMAGE = "localhost/users-api:test"
FRONTEND_IMAGE = "localhost/users-api-frontend:test"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")  # this machine's, TLS-inspected

if shutil.which("buildah") is None and not os.environ.get("CI"):
    pytest.skip("buildah is not installed (CI installs it)", allow_module_level=True)


def buildah(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"buildah {' '.join(args)}:\n{result.stderr}"
    return result.stdout


def build(image: str, target: str) -> None:
    env = {
        **os.environ,
        "BUILDER": "buildah",
        "IMAGE": image,
        "TARGET": target,
        "BASE_IMAGE": BASE,
        "BUILD_CA_BUNDLE": str(CA_BUNDLE),
    }
    result = subprocess.run(
        [ROOT / "scripts/build-image", "--isolation", "chroot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def image() -> str:
    subprocess.run([ROOT / "deploy/local-base", BASE], check=True, timeout=900)
    build(IMAGE, "api")
    return IMAGE


@pytest.fixture
def container(image: str) -> Iterator[str]:
    name = buildah("from", image).strip()
    yield name
    buildah("rm", name)


def config(image: str) -> dict:
    return json.loads(buildah("inspect", "--type", "image", image))["Docker"]["config"]


def test_the_image_runs_as_a_non_root_user_with_a_liveness_healthcheck(
    image: str, container: str
) -> None:
    settings = config(image)

    assert settings["User"] == "10001:10001"
    assert settings["Cmd"] == ["python", "-m", "api"]
    assert "/health/live" in " ".join(settings["Healthcheck"]["Test"])
    assert buildah("run", "--isolation", "chroot", container, "--", "id", "-u").strip() == "10001"


def _pem_bodies(bundle: str) -> set[str]:
    return {
        block.split("-----", 1)[0].strip()
        for block in bundle.split("-----BEGIN CERTIFICATE-----")[1:]
    }


def test_the_build_ca_bundle_is_nowhere_in_the_image(container: str) -> None:
    image_bundle = buildah("run", "--isolation", "chroot", container, "--", "cat", str(CA_BUNDLE))
    # The certificates pip trusted during the build that the image's own bundle lacks.
    build_only = _pem_bodies(CA_BUNDLE.read_text()) - _pem_bodies(image_bundle)
    root = Path(buildah("mount", container).strip())
    try:
        needles = [CA_BUNDLE.read_bytes()] + [body.encode()[:200] for body in build_only]
        found = [
            str(path)
            for path in root.rglob("*")
            if path.is_file()
            and not path.is_symlink()
            and any(needle in path.read_bytes() for needle in needles)
        ]
    finally:
        buildah("umount", container)

    assert found == []


def _descendants(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            children += [child, *_descendants(child)]
    return children


def _python_in(process: subprocess.Popen[bytes]) -> int:
    for pid in _descendants(process.pid):
        with_args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if with_args[:3] == [b"/opt/venv/bin/python", b"-m", b"api"]:
            return pid
    raise AssertionError("no python -m api under buildah run")


def test_the_image_serves_and_stops_on_sigterm(container: str, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "image.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                *("buildah", "run", "--isolation", "chroot", "--env", f"PORT={port}"),
                *(container, "--", "python", "-m", "api"),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                live = httpx.get(f"{url}/health/live", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=10) as http:
            created = http.post(USERS, json=course_user())
            fetched = http.get(created.headers["location"])
        os.kill(_python_in(process), signal.SIGTERM)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert live.json() == {"status": "ok"}
    assert created.status_code == 201
    assert fetched.json() == created.json()
    assert code == 0, log.read_text()


@pytest.mark.usefixtures("image")  # the base, and the build stage it shares
def test_the_frontend_target_builds_from_the_same_dockerfile() -> None:
    build(FRONTEND_IMAGE, "frontend")
    settings = config(FRONTEND_IMAGE)

    assert settings["User"] == "10001:10001"
    assert settings["Cmd"] == ["python", "-m", "frontend"]
    assert settings["Healthcheck"]["Test"]
