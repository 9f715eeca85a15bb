"""Settings from the environment."""

import importlib.util

import pytest

from api.config import SETTINGS, ConfigError, load_config


def test_defaults_apply_when_nothing_is_set() -> None:
    config = load_config({})

    assert config == {name: default for name, (default, _) in SETTINGS.items()}
    assert config["MONGODB_URI"] is None
    assert (config["HOST"], config["PORT"], config["MAX_PAGE_SIZE"]) == ("127.0.0.1", 8000, 100)


def test_environment_values_are_parsed() -> None:
    config = load_config(
        {
            "MONGODB_URI": "mongodb://db:27017",
            "PORT": "9000",
            "WORKERS": "4",
            "ACCESS_LOG": "true",
            "LOG_LEVEL": "debug",
            "MAX_BODY_BYTES": "2048",
        }
    )

    assert config["MONGODB_URI"] == "mongodb://db:27017"
    assert (config["PORT"], config["WORKERS"], config["MAX_BODY_BYTES"]) == (9000, 4, 2048)
    assert config["ACCESS_LOG"] is True
    assert config["LOG_LEVEL"] == "DEBUG"


def test_an_empty_mongodb_uri_means_the_in_memory_store() -> None:
    assert load_config({"MONGODB_URI": " "})["MONGODB_URI"] is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("WORKERS", "0"),
        ("MAX_PAGE_SIZE", "-5"),
        ("MONGODB_TIMEOUT_MS", "soon"),
        ("ACCESS_LOG", "maybe"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("EVENT_LOOP", "trio"),
        ("OPENAPI_SERVER_URL", "users.example.com"),
        ("OPENAPI_SERVER_URL", "https://users.example.com/?v=1"),
        ("ROOT_PATH", "users-api"),
        ("ROOT_PATH", "/users api"),
        ("ROOT_PATH", "/users-api?x=1"),
        ("ROOT_PATH", "//users-api"),
    ],
)
def test_an_invalid_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}="):
        load_config({name: value})


def test_several_workers_need_a_shared_database() -> None:
    with pytest.raises(ConfigError, match="WORKERS=2 needs MONGODB_URI"):
        load_config({"WORKERS": "2"})

    assert load_config({"WORKERS": "2", "MONGODB_URI": "mongodb://db"})["WORKERS"] == 2


DIGEST = "ab" * 32


def test_api_keys_are_names_scopes_and_digests() -> None:
    keys = load_config({"API_KEYS": f" ci:read+write:{DIGEST} , dash:read:{'cd' * 32},"})[
        "API_KEYS"
    ]

    assert [(key.name, sorted(key.scopes), key.digest.hex()) for key in keys] == [
        ("ci", ["read", "write"], DIGEST),
        ("dash", ["read"], "cd" * 32),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("s3cr3t-key-pasted-by-mistake", "entry 1: the scopes"),
        ("s3cr3t:key/pasted", "entry 1: the scopes"),
        ("s3cr3t/key", "entry 1: the name"),
        (f"ci:admin:{DIGEST}", "entry 1: the scopes"),
        (f"ci:read:{DIGEST},ci2:write:s3cr3t-key-pasted-by-mistake", "entry 2: the third part"),
        (f"ci:read:{DIGEST.upper()}", "entry 1: the third part"),
        (f"ci:read:{DIGEST},ci:write:{DIGEST}", "two entries have the same name"),
    ],
)
def test_invalid_api_keys_are_refused_without_quoting_them(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_config({"API_KEYS": value})

    assert str(raised.value).startswith("API_KEYS=...: ")
    assert "s3cr3t" not in str(raised.value)
    assert DIGEST not in str(raised.value).lower()


def test_keys_for_reads_need_keys() -> None:
    with pytest.raises(ConfigError, match="API_KEYS_FOR_READS=true needs API_KEYS"):
        load_config({"API_KEYS_FOR_READS": "true"})


def test_the_server_url_is_absolute_without_a_trailing_slash() -> None:
    config = load_config({"OPENAPI_SERVER_URL": "https://users.example.com/api/ "})

    assert config["OPENAPI_SERVER_URL"] == "https://users.example.com/api"
    assert load_config({"OPENAPI_SERVER_URL": ""})["OPENAPI_SERVER_URL"] is None


@pytest.mark.parametrize(
    ("value", "root_path"),
    [("/users-api", "/users-api"), (" /users-api/ ", "/users-api"), ("/a/b", "/a/b"), ("/", "")],
)
def test_the_root_path_is_a_path_without_a_trailing_slash(value: str, root_path: str) -> None:
    assert load_config({"ROOT_PATH": value})["ROOT_PATH"] == root_path
    assert load_config({})["ROOT_PATH"] == ""


def test_uvloop_is_the_default_loop_and_needs_installing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config({})["EVENT_LOOP"] == "uvloop"
    assert load_config({"EVENT_LOOP": " AsyncIO "})["EVENT_LOOP"] == "asyncio"

    # Where uvloop cannot be installed (Windows), the default stops with what to do instead.
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(ConfigError, match=r"EVENT_LOOP=uvloop .*set EVENT_LOOP=asyncio"):
        load_config({})
    assert load_config({"EVENT_LOOP": "asyncio"})["EVENT_LOOP"] == "asyncio"
