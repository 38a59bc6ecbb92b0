"""The specs served, and the offline API reference: every asset from the mock itself, "Try it out" aimed
at the mock (document, path and operation servers alike)."""

import re

import yaml

from tests.support.harness import reset_client


def test_each_spec_is_served_bundled_with_the_mock_first_in_every_servers_list(make_flux_mock):
    with reset_client(make_flux_mock().url) as client:
        base = str(client.base_url).rstrip("/")
        for name in ("flux.yaml", "flux-pro-legacy.yaml", "public-clients.yaml", "admin.yaml"):
            answer = client.get(f"/openapi/{name}")
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/yaml")
            document = yaml.safe_load(answer.text)
            assert document["servers"][0]["url"] == base
            assert ".yaml#" not in answer.text, "bundled: no reference to another file"
            overrides = [holder["servers"] for item in document["paths"].values()
                         for holder in (item, *[op for op in item.values() if isinstance(op, dict)])
                         if "servers" in holder]
            assert all(servers[0]["url"] == base for servers in overrides), name
        missing = client.get("/openapi/other.yaml")
        assert missing.status_code == 404 and "specs: flux.yaml" in missing.json()["message"]


def test_the_docs_page_loads_everything_from_the_mock(make_flux_mock):
    with reset_client(make_flux_mock().url) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        external = re.findall(r"(?:src|href)=\"(https?://[^\"]+)\"", page.text)
        assert external == [], "no CDN: the page works with no network"
        for asset in re.findall(r"(?:src|href)=\"(/docs/assets/[^\"]+)\"", page.text):
            served = client.get(asset)
            assert served.status_code == 200 and len(served.content) > 100_000, asset
        assert client.get("/docs/assets/../../settings.py").status_code == 404
        assert not [e for e in client.get("/__admin/journal").json()["entries"] if e["path"].startswith(("/docs",
                                                                                                         "/openapi"))]


def test_a_spec_is_rendered_once_and_each_base_put_in_as_a_quoted_url():
    """Rendering flux.yaml takes about 0.4 s: it is done once, not per GET (four looping readers pushed the
    API's p50 to 0.56 s), and the base, whatever the Host made it, cannot break the YAML."""
    from mock_server.docs import _rendered, spec_for

    spec_for("flux.yaml", "http://127.0.0.1:1")
    rendered = _rendered.cache_info().misses
    for base in ("http://127.0.0.1:2", 'http://odd"host: #x', "http://[::1]:3"):
        document = yaml.safe_load(spec_for("flux.yaml", base))
        assert document["servers"][0] == {"url": base, "description": "this flux-mock"}
    assert _rendered.cache_info().misses == rendered
    listed = yaml.safe_load(spec_for("flux.yaml", "https://gateway.pixazo.ai"))["servers"]
    assert [server["url"] for server in listed].count("https://gateway.pixazo.ai") == 1
