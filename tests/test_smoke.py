"""A first look: the pages of the demo world answer."""

import pytest


@pytest.mark.parametrize("path", ["/", "/s/a1/", "/login", "/track", "/healthz"])
def test_public_pages_answer(client, county, path):
    assert client.get(path).status_code == 200
