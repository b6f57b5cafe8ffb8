"""The secured host's one query parser reads a query string as Starlette does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from mediagate.edge.signed_query import SIGNED_PARAMS, parse_signed_query

# Pieces a query string is made of, spelt in every way that matters: the names
# plain and percent-encoded, '+', stray '=' and '&', UTF-8 and broken escapes.
PIECES = st.sampled_from(
    [
        "Expires", "Expire%73", "Signature", "Signatur%65", "%53ignature", "Key-Pair-Id", "Key%2DPair%2DId",
        "Issued", "Download", "Downloa%64", "signature", "Signature+", "a+b", "=", "&", "1", "0", "A%2BB",
        "%", "%zz", "%C3%A9", "\u00e9", "+",
    ]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_the_parser_reads_what_starlette_reads(query: str) -> None:
    expected = QueryParams(query)
    parsed = parse_signed_query(query)
    lists = [expected.getlist(name) for name in SIGNED_PARAMS]
    assert parsed.repeated == any(len(values) > 1 for values in lists)
    if not parsed.repeated:
        assert parsed.signed == tuple(values[0] if values else "" for values in lists)
    assert parsed.download == (expected.get("Download") == "1")


def test_an_encoded_name_is_the_name() -> None:
    assert parse_signed_query("Expires=1&Signature=x&Signatur%65=y").repeated
    assert parse_signed_query("Expires=1&Expire%73=2").repeated
    assert parse_signed_query("Downloa%64=1").download
    assert parse_signed_query("Download=0&Download=1").download  # the last one, like Starlette's get
    assert not parse_signed_query("Download=1&Download=0").download
    assert parse_signed_query("Key%2DPair%2DId=K%2B+1").signed[2] == "K+ 1"
