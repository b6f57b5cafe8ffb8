"""The secured host's query string, read one way for both transports.

Names and values are decoded the way Starlette's ``request.query_params``
(``urllib.parse.parse_qsl``) decodes them: pairs split on ``&``, empty pairs
skipped, ``+`` is a space, then percent-decoding as UTF-8 with replacement.
The fast path once compared *undecoded* names, so ``Signatur%65=AAAA`` added
to a valid URL was a second ``Signature`` to Starlette (refused) and an
unknown parameter to the fast path (served).
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import unquote

# The order Signer.verify takes them.
SIGNED_PARAMS = ("Expires", "Signature", "Key-Pair-Id", "Issued")
_INDEX = {name: i for i, name in enumerate(SIGNED_PARAMS)}


class SignedQuery(NamedTuple):
    # Expires, Signature, Key-Pair-Id, Issued; "" when absent.
    signed: tuple[str, str, str, str]
    # A signed parameter given twice is two URLs in one: a cache or a proxy in
    # front may read the other copy than we do. Refused, never picked from.
    repeated: bool
    # ``Download=1`` (the last ``Download`` wins, as in Starlette's ``get``):
    # outside the signature on purpose, it can only turn "inline" into
    # "attachment" (the console's Download link), never the other way.
    download: bool


def _decode(text: str) -> str:
    if "%" in text or "+" in text:
        return unquote(text.replace("+", " "))
    return text


def parse_signed_query(query_string: str) -> SignedQuery:
    signed: dict[str, str] = {}
    repeated = False
    download: str | None = None
    for pair in query_string.split("&"):
        name, _, value = pair.partition("=")  # an empty pair is an empty name: no parameter of ours
        if "%" in pair or "+" in pair:  # one scan: most pairs need no decoding
            name, value = _decode(name), _decode(value)
        if name in _INDEX:
            if name in signed:
                repeated = True
            signed[name] = value
        elif name == "Download":
            download = value
    get = signed.get
    return SignedQuery(
        (get("Expires", ""), get("Signature", ""), get("Key-Pair-Id", ""), get("Issued", "")),
        repeated,
        download == "1",
    )
