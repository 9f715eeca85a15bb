"""The served contract: the four documents and the two docs pages, all from local files."""

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import docs

OPENAPI = Path(__file__).resolve().parent.parent / "openapi"
FILES = [f"{stem}.{ext}" for stem in docs.DOCUMENTS for ext in ("json", "yaml")]


@pytest.mark.parametrize("name", FILES)
def test_each_document_is_served_as_committed(client: FlaskClient, name: str) -> None:
    response = client.get(f"/{name}")

    assert response.status_code == 200
    assert response.mimetype == docs.MEDIA_TYPES[name.rsplit(".", 1)[1]]
    assert response.text == (OPENAPI / name).read_text()


def test_only_the_published_documents_are_served(client: FlaskClient) -> None:
    assert client.get("/openapi-2.0.json").status_code == 404
    assert client.get("/openapi.txt").status_code == 404


def test_the_served_documents_are_the_app_s_own(app: Flask, client: FlaskClient) -> None:
    for stem, document in docs.documents(app).items():
        assert client.get(f"/{stem}.json").json == document


def local_urls(page: str) -> list[str]:
    """Every src and href of the page, asserting none leaves this server."""
    urls = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert urls
    assert "://" not in page
    return urls


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_link_every_document_and_each_other(client: FlaskClient, path: str) -> None:
    urls = local_urls(client.get(path).text)

    assert {f"/{name}" for name in FILES} <= set(urls)
    assert {"/docs", "/redoc"} <= set(urls)


def test_swagger_ui_loads_local_assets_and_offers_both_versions(client: FlaskClient) -> None:
    page = client.get("/docs").text

    for url in local_urls(page):
        if url.startswith("/docs/assets/"):
            with client.get(url) as asset:
                assert asset.status_code == 200, url
    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert '"url": "/openapi.json"' in page
    assert '"url": "/openapi-3.0.json"' in page
    assert "validatorUrl: null" in page  # the default validator is a remote service


def test_redoc_loads_the_vendored_script(client: FlaskClient) -> None:
    page = client.get("/redoc").text

    assert 'spec-url="/openapi.json"' in page
    with client.get("/redoc/assets/redoc.standalone.js") as script:
        assert script.status_code == 200
        assert script.mimetype == "text/javascript"
        assert len(script.data) > 500_000
        assert b"://" not in script.data[:200]  # only the license comment precedes the code


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_forbid_the_browser_to_load_anything_from_elsewhere(
    client: FlaskClient, path: str
) -> None:
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in client.get(path).headers["Content-Security-Policy"].split(";")
    )

    assert policy["default-src"] == "'none'"
    for directive, sources in policy.items():
        assert "://" not in sources, directive
        assert "*" not in sources, directive


def test_the_root_leads_to_the_docs(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/docs"


def test_the_api_has_a_favicon_which_the_docs_pages_name(client: FlaskClient) -> None:
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200
        assert icon.mimetype == "image/svg+xml"
        assert icon.data.startswith(b"<svg")
    for path in ("/docs", "/redoc"):
        assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in client.get(path).text
