"""SDKs generated from the committed spec by ./scripts/generate-sdk, driving a live server.

Python: openapi-python-client's package does a whole round trip and gets typed problems; the
README's example type-checks under `mypy --strict` and runs.
TypeScript: openapi-typescript's types compile under `tsc --strict` with tests/contract/usage.ts,
which then runs on node against the server. openapi-generator must find an operationId for every
operation, in both versions of the spec.
"""

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.live_server import ROOT, Server

pytestmark = [pytest.mark.live, pytest.mark.contract]

CONTRACT = ROOT / "tests" / "contract"
VENV_BIN = Path(sys.executable).parent
PACKAGE = "users_api_client"
OPERATIONS = ["create_user", "get_user", "list_users", "update_user", "replace_user", "delete_user"]


def run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """Run a command with the venv's tools on PATH; return its output, failing on an error."""
    environ = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ./scripts/generate-sdk writes, generated from the committed spec."""
    out = tmp_path_factory.mktemp("sdk")
    output = run(ROOT / "scripts" / "generate-sdk", out)
    assert "Warning(s) encountered" not in output, output  # openapi-python-client's
    return out


@pytest.fixture(scope="module")
def client_package(sdk: Path) -> Iterator[ModuleType]:
    sys.path.insert(0, str(sdk / "python"))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(sdk / "python"))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture
def client(client_package: ModuleType, server: Server) -> Iterator[Any]:
    with client_package.Client(base_url=server.url, raise_on_unexpected_status=True) as client:
        yield client


def test_python_client_round_trip_with_typed_problems(client: Any) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    users = SimpleNamespace(
        **{name: importlib.import_module(f"{PACKAGE}.api.users.{name}") for name in OPERATIONS}
    )

    def course_user(email: str, **changes: Any) -> Any:
        fields = {
            "name": "Priyanshu",
            "email": email,
            "role": "SDK Engineer",  # this test's users only: the server is shared
            "skills": ["Docker", "Kubernetes", "AWS"],
            "experience": models.Experience(years=5, companies=["Company A", "Company B"]),
        }
        return models.UserInput(**{**fields, **changes})

    created = users.create_user.sync_detailed(
        client=client, body=course_user("priyanshu.sdk@example.com")
    )
    assert created.status_code == 201
    user = created.parsed
    assert isinstance(user, models.User)
    assert created.headers["location"].endswith(user.id)
    assert user.experience.companies == ["Company A", "Company B"]
    for index in range(3):
        users.create_user.sync(client=client, body=course_user(f"sdk.{index}@example.com"))

    fetched = users.get_user.sync_detailed(user.id, client=client)
    assert fetched.parsed == user
    page = users.list_users.sync(
        client=client,
        role="SDK Engineer",
        skill="Docker",
        active=True,
        sort=models.ListUsersSort.EMAIL_DESC,
        page=2,
        page_size=2,
    )
    assert isinstance(page, models.UserPage)
    assert (page.page, page.page_size, page.total) == (2, 2, 4)
    assert [item.email for item in page.items] == ["sdk.0@example.com", "priyanshu.sdk@example.com"]

    updated = users.update_user.sync_detailed(
        user.id,
        client=client,
        body=models.UserPatch(experience=models.Experience(years=6)),
        if_match=fetched.headers["etag"],
    )
    assert updated.status_code == 200
    assert updated.parsed.experience.years == 6
    assert updated.parsed.experience.companies == ["Company A", "Company B"]
    replaced = users.replace_user.sync(
        user.id, client=client, body=course_user("priyanshu.sdk@example.com", role="SRE")
    )
    assert replaced.role == "SRE"

    assert users.delete_user.sync_detailed(user.id, client=client).status_code == 204
    missing = users.get_user.sync_detailed(user.id, client=client)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Problem)
    assert missing.parsed.code == "not_found"

    taken = users.create_user.sync_detailed(client=client, body=course_user("SDK.0@example.com"))
    assert taken.status_code == 409
    assert isinstance(taken.parsed, models.Problem)
    assert taken.parsed.code == "email_taken"
    assert "email" in taken.parsed.errors.additional_properties

    invalid = users.create_user.sync_detailed(
        client=client,
        body=course_user("not-an-email", experience=models.Experience(years=81)),
    )
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, models.Problem)
    assert invalid.parsed.code == "validation_failed"
    assert set(invalid.parsed.errors.additional_properties) == {"email", "experience.years"}


def test_python_client_reads_versions_restores_and_describes(client: Any) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    ops = {
        name: importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")
        for tag, names in {
            "users": ["create_user", "update_user", "delete_user"],
            "versions": [
                "list_user_versions",
                "get_user_version",
                "restore_user_version",
                "restore_user",
            ],
            "insights": ["get_user_stats"],
        }.items()
        for name in names
    }
    body = models.UserInput(name="Ada", email="ada.sdk@example.com", role="SDK Historian")
    user = ops["create_user"].sync(client=client, body=body)
    ops["update_user"].sync(user.id, client=client, body=models.UserPatch(role="SDK Archivist"))

    page = ops["list_user_versions"].sync(user.id, client=client, page_size=1)
    assert isinstance(page, models.UserVersionPage)
    assert (page.total, page.items[0].version, page.items[0].user.role) == (2, 2, "SDK Archivist")
    first = ops["get_user_version"].sync(user.id, 1, client=client)
    assert isinstance(first, models.UserVersion)
    assert first.operation == "create"
    restored = ops["restore_user_version"].sync_detailed(user.id, 1, client=client, if_match='"2"')
    assert restored.status_code == 200
    assert restored.parsed.role == "SDK Historian"
    assert restored.headers["etag"] == '"3"'

    assert ops["delete_user"].sync_detailed(user.id, client=client).status_code == 204
    back = ops["restore_user"].sync_detailed(user.id, client=client)
    assert back.status_code == 200
    again = ops["restore_user"].sync_detailed(user.id, client=client)
    assert isinstance(again.parsed, models.Problem)
    assert again.parsed.code == "not_deleted"

    stats = ops["get_user_stats"].sync(client=client, role="SDK Historian", top=5)
    assert isinstance(stats, models.UserStats)
    assert stats.total == 1
    assert [(count.value, count.count) for count in stats.roles] == [("SDK Historian", 1)]
    assert stats.activity.active == 1


def readme_python_example() -> str:
    """The Python block of the README's "Use the contract" section."""
    section = (ROOT / "README.md").read_text().split("\n## Use the contract\n", 1)[1]
    return section.split("\n```python\n", 1)[1].split("\n```\n", 1)[0] + "\n"


def test_the_readme_python_example_type_checks_strictly_and_runs(
    sdk: Path, server: Server, tmp_path: Path
) -> None:
    example = tmp_path / "example.py"
    example.write_text(readme_python_example().replace("http://127.0.0.1:8000", server.url))
    env = {"MYPYPATH": str(sdk / "python"), "PYTHONPATH": str(sdk / "python")}

    output = run(
        VENV_BIN / "mypy",
        *("--strict", "--no-incremental", "--cache-dir", os.devnull, example),
        env=env,
    )
    assert "Success: no issues found" in output, output
    run(sys.executable, example, env=env)


def test_typescript_types_compile_strictly_and_drive_the_server(
    sdk: Path, server: Server, tmp_path: Path
) -> None:
    (tmp_path / "users-api.d.ts").write_text((sdk / "typescript" / "users-api.d.ts").read_text())
    (tmp_path / "usage.ts").write_text((CONTRACT / "usage.ts").read_text())

    run(
        CONTRACT / "node_modules" / ".bin" / "tsc",
        *("--strict", "--noUnusedLocals", "--target", "es2022", "--module", "commonjs"),
        *("--lib", "es2022,dom", "--types", "node", "--typeRoots", "node_modules/@types"),
        *("--outDir", tmp_path / "out", tmp_path / "usage.ts"),
        cwd=CONTRACT,
    )
    seen = json.loads(run("node", tmp_path / "out" / "usage.js", server.url))

    assert seen == {
        "created": [201, "Priyanshu <priyanshu.ts@example.com> Docker/Kubernetes/AWS"],
        "listed": True,
        "years": 6,
        "problems": [409, 404, "email_taken", "not_found"],
    }


def test_typescript_types_refuse_what_the_spec_refuses(sdk: Path, tmp_path: Path) -> None:
    """The negative control: a body the spec refuses does not compile."""
    (tmp_path / "users-api.d.ts").write_text((sdk / "typescript" / "users-api.d.ts").read_text())
    (tmp_path / "wrong.ts").write_text(
        'import type { components } from "./users-api";\n'
        'export const user: components["schemas"]["UserInput"] = { name: "P", emial: "p@x.org" };\n'
    )
    tsc = CONTRACT / "node_modules" / ".bin" / "tsc"
    result = subprocess.run(
        [str(tsc), "--strict", "--noEmit", str(tmp_path / "wrong.ts")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "'emial' does not exist" in result.stdout


@pytest.mark.parametrize("document", ["openapi-3.0.json", "openapi.json"])
def test_openapi_generator_finds_every_operation_id(tmp_path: Path, document: str) -> None:
    output = run(
        VENV_BIN / "openapi-generator-cli",
        *("generate", "-i", ROOT / "openapi" / document, "-g", "python"),
        *("-o", tmp_path, "--additional-properties=packageName=users_api_generated"),
    )

    assert "operationid" not in output.lower(), output
    assert "[main] ERROR" not in output, output
    methods = (tmp_path / "users_api_generated" / "api" / "users_api.py").read_text()
    for name in ["list_users", "create_user", "get_user", "replace_user", "update_user"]:
        assert f"def {name}(" in methods
    assert "def delete_user(" in methods
    assert "def get_liveness(" in (tmp_path / "users_api_generated/api/health_api.py").read_text()
    run(sys.executable, "-m", "compileall", "-q", tmp_path / "users_api_generated")
