"""mediagate's X-Twilio-Signature against Twilio's published vector and twilio-python's validator."""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from mediagate.webhooks import compute_signature, request_url

VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_twilio_documented_vector() -> None:
    assert compute_signature("12345", VECTOR_URL, VECTOR_PARAMS.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_parameter_order_does_not_matter() -> None:
    forward = list(VECTOR_PARAMS.items())
    assert compute_signature("12345", VECTOR_URL, reversed(forward)) == compute_signature(
        "12345", VECTOR_URL, forward
    )


def test_request_validator_accepts_inbound_style_params() -> None:
    token = "0123456789abcdef0123456789abcdef"
    url = "http://127.0.0.1:9999/sms?tenant=7"
    params = [
        ("MessageSid", "MM" + "a" * 32),
        ("Body", "héllo & ünïcode = fine"),
        ("NumMedia", "2"),
        ("MediaUrl0", "http://127.0.0.1:8080/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
        ("MediaUrl1", "http://127.0.0.1:8080/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2"),
        ("Empty", ""),
    ]
    signature = compute_signature(token, url, params)
    validator = RequestValidator(token)
    assert validator.validate(url, dict(params), signature)
    assert not RequestValidator("f" * 32).validate(url, dict(params), signature)
    tampered = dict(params, Body="something else")
    assert not validator.validate(url, tampered, signature)
    # The query string is part of what is signed.
    assert not validator.validate("http://127.0.0.1:9999/sms?tenant=8", dict(params), signature)


def test_get_signs_the_full_url_with_params_in_the_query() -> None:
    token = "abc"
    params = [("MessageSid", "SM" + "b" * 32), ("Body", "a b&c")]
    url = request_url("https://example.com/hook?x=1", "GET", params)
    assert url == "https://example.com/hook?x=1&" + urlencode(params)
    assert request_url("https://example.com/hook", "GET", params).startswith("https://example.com/hook?")
    assert request_url("https://example.com/hook", "POST", params) == "https://example.com/hook"
    assert RequestValidator(token).validate(url, {}, compute_signature(token, url))
