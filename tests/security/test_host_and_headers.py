"""Only the configured host is served; HSTS and a Permissions-Policy go with every page.

A request with a forged ``Host`` header used to be answered, and the host came back in
redirects (``Location: http://evil.example/…``) and external links.
"""

from __future__ import annotations

import pytest
from conftest import login

from kaimen import config, create_app
from kaimen.extensions import db

PRODUCTION_SECRET = "a-long-random-production-secret-0123456789abcdef"
FORGED = {"Host": "evil.example"}


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/"),
    ("get", "/account"),
    ("get", "/login?next=/account"),
    ("get", "/s/a1/"),
    ("get", "/s/a1/complaints/"),
    ("post", "/logout"),
    ("post", "/login"),
    ("get", "/no-such-page"),
])
def test_a_forged_host_gets_400_and_is_never_echoed(client, county, method, path):
    response = getattr(client, method)(path, headers=FORGED)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "evil.example" not in response.get_data(as_text=True)


def test_a_forged_host_cannot_use_a_logged_in_session(client, county):
    login(client, "a1.admin")
    response = client.get("/s/a1/complaints/cases", headers=FORGED)
    assert response.status_code == 400
    assert "evil.example" not in response.get_data(as_text=True)


def test_the_test_client_and_the_base_url_host_keep_working(client, county):
    assert client.get("/s/a1/").status_code == 200  # Host: localhost in testing
    assert client.get("/s/a1/", headers={"Host": "kaimen.example.org"}).status_code == 200
    assert client.get("/s/a1/", headers={"Host": "kaimen.example.org:443"}).status_code == 200


@pytest.fixture
def production(monkeypatch, tmp_path):
    """An app outside debug and testing, on https, that also answers to an internal name."""
    for name in config.SETTINGS:
        monkeypatch.delenv(f"KAIMEN_{name}", raising=False)
    app = create_app({
        "SECRET_KEY": PRODUCTION_SECRET,
        "AUDIT_KEY": "a-long-random-audit-chain-key-0123456789abcdef",
        "BASE_URL": "https://kaimen.example.org",
        "ALLOWED_HOSTS": "kaimen-1.internal, 10.0.0.5",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
    })
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "evil.example", "example.org"])
def test_outside_testing_only_the_configured_hosts_are_served(production, host):
    response = production.test_client().get("/account", headers={"Host": host})
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize("host", ["kaimen.example.org", "kaimen-1.internal", "10.0.0.5:8000"])
def test_outside_testing_the_base_url_and_allowed_hosts_are_served(production, host):
    response = production.test_client().get("/account", headers={"Host": host})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_trusted_hosts_come_from_the_base_url_and_the_setting():
    settings = config.load({"BASE_URL": "https://kaimen.example.org:8443/app",
                            "ALLOWED_HOSTS": " a.example ,,B.example"}, environ={})
    assert config.trusted_hosts(settings) == ["kaimen.example.org", "a.example", "b.example"]
    debug = config.trusted_hosts(settings | {"DEBUG": True})
    assert {"localhost", "127.0.0.1"} <= set(debug)


def test_hsts_and_permissions_policy_on_every_response(client, county):
    for path in ("/", "/s/a1/", "/no-such-page", "/static/kaimen.css"):
        response = client.get(path)
        response.close()
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "camera=()" in response.headers["Permissions-Policy"]
        assert "geolocation=()" in response.headers["Permissions-Policy"]


def test_no_hsts_when_the_base_url_is_plain_http(app, client, county):
    app.config["BASE_URL"] = "http://intranet.example"
    response = client.get("/")
    assert "Strict-Transport-Security" not in response.headers
    assert "Permissions-Policy" in response.headers
