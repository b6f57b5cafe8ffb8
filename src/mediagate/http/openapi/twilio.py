"""Twilio's half of the document: the operations mediagate implements, copied
from Twilio's OpenAPI files (MIT, ``twilio-oai``) into
``apidocs/twilio_subset.json`` by ``python -m mediagate.http.openapi extract DIR``.

Copying at build time keeps the runtime free of a path to Twilio's 10 MB files;
copying, not rewriting, keeps the shapes Twilio's. A test keeps the copy equal
to a fresh extraction from Twilio's files, and the document's Twilio operations
equal to the copy (``tests/e2e/test_openapi.py``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from mediagate.http.openapi.shapes import METHODS

Json = dict[str, Any]

# The Twilio operations we implement, by file, path and method.
TWILIO_OPERATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "twilio_api_v2010.json": {
        "/2010-04-01/Accounts.json": ("get", "post"),
        "/2010-04-01/Accounts/{Sid}.json": ("get", "post"),
        "/2010-04-01/Accounts/{AccountSid}/Messages.json": ("get", "post"),
        "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json": ("get", "post", "delete"),
        "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json": ("get",),
        "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json": ("get", "delete"),
        "/2010-04-01/Accounts/{AccountSid}/Keys.json": ("get", "post"),
        "/2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json": ("get", "post", "delete"),
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json": ("get", "post"),
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json": ("get", "post", "delete"),
    },
    "twilio_accounts_v1.json": {
        "/v1/AuthTokens/Secondary": ("post", "delete"),
        "/v1/AuthTokens/Promote": ("post",),
    },
}
SUBSET = "twilio_subset.json"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _relative_uris(node: Any) -> Any:
    """Twilio's files say ``format: uri`` for the v2010 page links (``uri``,
    ``first_page_uri``, ...) and for webhook URLs (``sms_url``, ...), but Twilio
    answers page links relative to its host (as its own examples in the same
    files show; twilio-python relies on it) and ``""`` for a webhook URL that is
    not set. So do we; ``uri-reference`` admits both (found by schemathesis)."""
    if isinstance(node, dict):
        if node.get("format") == "uri" and node.get("type") == "string":
            return {**node, "format": "uri-reference"}
        return {k: _relative_uris(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_relative_uris(v) for v in node]
    return node


def extract_twilio(folder: Path) -> Json:
    """The chosen operations and every schema they reference, transitively."""
    paths: Json = {}
    schemas: Json = {}
    for name, wanted in TWILIO_OPERATIONS.items():
        spec = json.loads((folder / name).read_text())
        found = spec["components"]["schemas"]
        for path, methods in wanted.items():
            item = spec["paths"][path]
            # Path-level servers point at api.twilio.com; ours come from the settings.
            kept = {k: v for k, v in item.items() if k not in METHODS and k != "servers"}
            for method in methods:
                operation = dict(item[method])
                if "v2010" in name:  # responses only: requests keep Twilio's stricter format
                    operation["responses"] = _relative_uris(operation["responses"])
                kept[method] = operation
            paths[path] = kept
        pending = list(_refs([paths[p] for p in wanted]))
        while pending:
            ref = pending.pop()
            prefix = "#/components/schemas/"
            if not ref.startswith(prefix):
                raise ValueError(f"{name}: unexpected reference {ref}")
            key = ref.removeprefix(prefix)
            if key not in schemas:
                schemas[key] = _relative_uris(found[key]) if "v2010" in name else found[key]
                pending.extend(_refs(found[key]))
    return {
        "source": "https://github.com/twilio/twilio-oai (MIT), operations mediagate implements",
        "paths": paths,
        "schemas": dict(sorted(schemas.items())),
    }


def subset() -> Json:
    copied: Json = json.loads(subset_file().read_text())
    return copied


def subset_file() -> Traversable:
    return resources.files("mediagate").joinpath("apidocs", SUBSET)


def main(argv: list[str]) -> int:
    """``python -m mediagate.http.openapi extract TWILIO_OAI_DIR``: refresh the copied subset."""
    if len(argv) != 2 or argv[0] != "extract":
        sys.stderr.write("usage: python -m mediagate.http.openapi extract TWILIO_OAI_DIR\n")
        return 2
    target = Path(str(subset_file()))
    target.write_text(json.dumps(extract_twilio(Path(argv[1])), indent=1, sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {target}\n")
    return 0
