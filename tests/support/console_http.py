"""Signing in to the console with plain ``requests`` (no browser): cheap enough for matrices."""

from __future__ import annotations

import re

import requests

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no csrf_token in the page"
    return found.group(1)


def attempt_login(
    http: requests.Session, base_url: str, user: str, secret: str, headers: dict[str, str] | None = None
) -> requests.Response:
    """One sign-in through the real form (pre-login cookie + its CSRF token); no redirects followed."""
    form = http.get(base_url + "/console/login", headers=headers, timeout=10)
    assert form.status_code == 200, form.text
    return http.post(
        base_url + "/console/login",
        data={"csrf_token": csrf_token(form.text), "username": user, "password": secret},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )


def console_session(base_url: str, user: str, secret: str) -> requests.Session:
    """A ``requests`` session signed in to the console as ``user``."""
    http = requests.Session()
    r = attempt_login(http, base_url, user, secret)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/dashboard"
    return http


def form_token(http: requests.Session, base_url: str) -> str:
    """The session's CSRF token, read from a page every signed-in credential may see."""
    page = http.get(base_url + "/console/messaging", timeout=10)
    assert page.status_code == 200, page.text
    return csrf_token(page.text)
