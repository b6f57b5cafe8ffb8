"""The forms (and query strings) of our own ``/v1`` resources, each declared
once as a pydantic model.

A model is at once what the handler parses (``parse``), what ``/openapi.json``
says the operation accepts (``mediagate.http.openapi.ours`` takes its JSON Schema)
and what a unit test compares the two by, so a field the code accepts cannot
be missing from the document.

Twilio's conventions hold: PascalCase form names (the aliases), unknown names
ignored, and a refusal is a Twilio error body (400, code 20001 unless said
otherwise). The messages are the ones these resources answered before the
models existed: clients and tests read them.

* A validator refuses with ``refusal(message)``; the message says ``{field}``
  where the form name goes and ``parse`` fills it in from the error's location.
* ``Refusal(message, code)`` in a field's ``Annotated`` metadata is what any
  other failure of that field answers (absent, not in the enum, not a SID).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError
from starlette.datastructures import FormData

from mediagate.core import sids
from mediagate.core.errors import BadRequest
from mediagate.retention import rules as retention

REFUSED = "refused"  # the pydantic error type of a refusal that carries its own message and code


@dataclass(frozen=True)
class Refusal:
    """What any failure of the field it annotates answers."""

    message: str
    code: int = 20001


def refusal(message: str, code: int = 20001) -> PydanticCustomError:
    return PydanticCustomError(REFUSED, message, {"code": code})


class Form(BaseModel):
    # Parsed by form name only; unknown names ignored, as Twilio does. A form's
    # docstring is its description in /openapi.json: written for API users.

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=False)
    # The component name in /openapi.json.
    schema_name: ClassVar[str]


F = TypeVar("F", bound=Form)


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list or any(_is_list(a) for a in get_args(annotation))


def values(model: type[Form], data: FormData | Mapping[str, str]) -> dict[str, Any]:
    """The form's values under the model's names: the last value of a name, or
    every value for a list field (``MediaUrl`` repeated). ``http_common.form``
    has already checked size, content type and text (no NUL, no lone surrogate)."""
    found: dict[str, Any] = {}
    for field in model.model_fields.values():
        name = field.alias
        if name is None:
            raise TypeError(f"{model.__name__}: every field of a form needs its form name (alias)")
        if isinstance(data, FormData) and _is_list(field.annotation):
            items = data.getlist(name)
            if items:
                found[name] = items
        elif name in data:
            found[name] = data[name]
    for name, value in found.items():
        for item in value if isinstance(value, list) else [value]:
            # Unreachable while form() refuses files (max_files=0); a file field must not
            # reach a model as an object that merely looks like text.
            if not isinstance(item, str):
                raise BadRequest(f"{name} must be a text field.", code=20001)
    return found


def _refusals(model: type[Form]) -> dict[str, Refusal]:
    found = {}
    for field in model.model_fields.values():
        for meta in field.metadata:
            if isinstance(meta, Refusal) and field.alias is not None:
                found[field.alias] = meta
    return found


def bad_request(model: type[Form], error: ValidationError) -> BadRequest:
    """The Twilio 400 for the first thing wrong, in the model's field order (the
    order the handlers checked the fields in before the models)."""
    order = {field.alias: n for n, field in enumerate(model.model_fields.values())}
    problems = sorted(
        error.errors(), key=lambda e: order.get(str(e["loc"][0]), -1) if e["loc"] else len(order)
    )
    first = problems[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    if first["type"] == REFUSED:
        code = int((first.get("ctx") or {}).get("code", 20001))
        return BadRequest(first["msg"].replace("{field}", name), code=code)
    declared = _refusals(model).get(name)
    if declared is not None:
        return BadRequest(declared.message, code=declared.code)
    return BadRequest(f"{name} is not valid.", code=20001)


def parse(model: type[F], data: FormData | Mapping[str, str], **context: Any) -> F:
    """The form as ``model``, or the Twilio 400 its first problem answers."""
    try:
        return model.model_validate(values(model, data), context=context)
    except ValidationError as exc:
        raise bad_request(model, exc) from None


# --- field types ---------------------------------------------------------------------------

_TRUE = ("true", "1", "yes", "on", "enable", "enabled")
_FALSE = ("false", "0", "no", "off", "disable", "disabled")


def _flag(value: object) -> object:
    """Twilio's booleans arrive as text, spelt in several ways by hand-written clients
    (the spellings ``http_common.bool_field`` took, which this replaces)."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise refusal("{field} must be true or false.")
    return value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _empty_is_absent(value: object) -> object:
    return None if value == "" else value


def _filter_sid(prefix: str) -> BeforeValidator:
    """An optional SID filter: empty is no filter; anything else must be a SID."""

    def check(value: object) -> object:
        if isinstance(value, str) and value and not sids.is_sid(value, prefix):
            # The value goes in through the context: pydantic would read braces in it as fields.
            raise PydanticCustomError(
                REFUSED,
                f"Invalid {{field}} {{value}}: expected {prefix} followed by 32 hex digits.",
                {"code": 20001, "value": repr(value[:40])},
            )
        return _empty_is_absent(value)

    return BeforeValidator(check)


# A boolean form field: true/false (and yes/no, on/off, 1/0, enable(d)/disable(d)).
Flag = Annotated[bool, BeforeValidator(_flag)]
# The same, where absent means "leave as is". The validator wraps the union, so a
# bad value is one refusal rather than one error per member of the union.
OptionalFlag = Annotated[bool | None, BeforeValidator(_flag)]


def sid(prefix: str) -> StringConstraints:
    """A SID field: ``prefix`` and 32 hex digits (the schema says so too), in our
    forms and in our bodies (``api/representations.py``)."""
    return StringConstraints(pattern=f"^{prefix}[0-9a-fA-F]{{32}}$", min_length=34, max_length=34)


def _days(value: object, info: ValidationInfo) -> object:
    """``retention.parse_days``, the console's parser too: empty clears (0)."""
    if not isinstance(value, str):
        return value
    max_days = (info.context or {})["retention_max_days"]
    try:
        return retention.parse_days("{field}", value, max_days)
    except BadRequest as exc:
        raise refusal(exc.message, exc.code) from None


_DAYS_HELP = "Whole days from 1 to the deployment's maximum; empty clears"
# Sent as text (empty clears), parsed to whole days: the schema describes the wire.
Days = Annotated[
    int | None,
    BeforeValidator(_days),
    WithJsonSchema({"type": "string", "description": _DAYS_HELP}),
]


# --- the forms -----------------------------------------------------------------------------


class MessagingSettingsForm(Form):
    """Enforce HTTP Auth on Media URLs for media created from now on."""

    schema_name = "mediagate.messaging_settings_update"
    enforce_media_http_auth: Annotated[Flag, Refusal("EnforceMediaHttpAuth is required (true or false).")] = (
        Field(alias="EnforceMediaHttpAuth", description="Require HTTP auth for new media")
    )


class MediaDeliveryForm(Form):
    """How the content URL hands over media: redirect (a 307 to a media host) or direct."""

    schema_name = "mediagate.media_delivery_update"
    mode: Annotated[
        Literal["redirect", "direct"],
        BeforeValidator(_lower),
        Refusal("Mode is required: redirect or direct."),
    ] = Field(alias="Mode")


class MediaRetentionForm(Form):
    """The retention rule's changes: at least one field; fields not given are kept."""

    # Parsed with ``retention_max_days`` in the context (the deployment's maximum).

    schema_name = "mediagate.media_retention_update"
    days_after_creation: Days = Field(None, alias="DaysAfterCreation")
    days_after_last_access: Days = Field(None, alias="DaysAfterLastAccess")
    after_first_download: OptionalFlag = Field(None, alias="AfterFirstDownload")
    after_webhook_delivered: OptionalFlag = Field(
        None, alias="AfterWebhookDelivered", description="After a 2xx from the inbound webhook"
    )

    @model_validator(mode="after")
    def _something(self) -> MediaRetentionForm:
        if not self.model_fields_set:
            names = ", ".join(str(f.alias) for f in type(self).model_fields.values())
            raise refusal(f"Give at least one of {names}.")
        return self

    def change(self) -> retention.Change:
        return retention.Change(
            days_after_creation=self.days_after_creation,
            days_after_last_access=self.days_after_last_access,
            after_first_download=self.after_first_download,
            after_webhook_delivered=self.after_webhook_delivered,
        )


class CarrierInboundForm(Form):
    """An inbound message as a carrier hands it over."""

    # The numbers are checked by the ingress (carriers/ingress.py), as for
    # Messages.json; only their absence is refused here, with the ingress's codes.

    schema_name = "mediagate.carrier_inbound"
    to: Annotated[str, Refusal("A 'To' phone number is required.", 21604)] = Field(alias="To")
    from_: Annotated[str, Refusal("A 'From' phone number is required.", 21603)] = Field(alias="From")
    body: str = Field("", alias="Body")
    media_urls: list[Annotated[str, WithJsonSchema({"type": "string", "format": "uri"})]] = Field(
        [], alias="MediaUrl", description="Repeated, up to the channel's limit"
    )


class AccountParameter(Form):
    """The ``AccountSid`` form field or query parameter of an ``account="parameter"``
    route (``api.common.route``): its wrapper reads it with this model, before the
    credential, and the operation's documented model inherits the field."""

    account_sid: Annotated[
        str, sid("AC"), Refusal("AccountSid is required: AC followed by 32 hex digits.")
    ] = Field(alias="AccountSid")


class IamKeyCreateForm(AccountParameter):
    """A new standard or restricted key (main keys are made with the CLI only)."""

    # KeyType=main used to pass straight through and mint a full-access key over the API.

    schema_name = "mediagate.iam_key_create"
    friendly_name: str | None = Field(None, alias="FriendlyName")
    key_type: Annotated[
        Literal["standard", "restricted"],
        BeforeValidator(lambda v: _lower(v) or "standard"),
        Refusal("KeyType must be restricted (or omitted for a standard key)."),
    ] = Field("standard", alias="KeyType")
    policy: str | None = Field(
        None, alias="Policy", description='Restricted keys only. JSON: {"allow": ["/twilio/..."]}'
    )

    @model_validator(mode="after")
    def _policy_needs_restricted(self) -> IamKeyCreateForm:
        # A Policy without KeyType=restricted used to be dropped silently, leaving the
        # caller with a standard key far wider than the policy they asked for.
        if self.key_type != "restricted" and self.policy:
            raise refusal("Only restricted keys carry a Policy: send KeyType=restricted.")
        return self


class IamKeyUpdateForm(Form):
    """A key's changes: fields not given are kept."""

    schema_name = "mediagate.iam_key_update"
    friendly_name: str | None = Field(None, alias="FriendlyName")
    policy: str | None = Field(
        None, alias="Policy", description='Restricted keys only. JSON: {"allow": ["/twilio/..."]}'
    )


# --- the query strings ---------------------------------------------------------------------
# Paging (PageSize, Page, PageToken) is Twilio's and shared with Twilio's lists:
# paging.parse_page_request reads it, the document's shapes.PAGE_PARAMS describe it.


class IamKeyListQuery(AccountParameter):
    """``GET /v1/Keys``: the account whose keys to list."""

    # Nothing but the account, which the route's wrapper reads: no handler parses it.
    schema_name = "mediagate.iam_key_list_query"


class MediaAccessEventQuery(Form):
    """``GET /v1/Accounts/{AC}/MediaAccessEvents``: an optional filter."""

    schema_name = "mediagate.media_access_event_query"
    media_sid: Annotated[Annotated[str, sid("ME")] | None, _filter_sid("ME")] = Field(
        None, alias="MediaSid", description="Only this media's accesses"
    )


class WebhookDeliveryQuery(Form):
    """``GET /v1/Accounts/{AC}/WebhookDeliveries``: an optional filter."""

    schema_name = "mediagate.webhook_delivery_query"
    message_sid: Annotated[str | None, BeforeValidator(_empty_is_absent)] = Field(
        None, alias="MessageSid", description="Only this message's webhooks"
    )


# Every query string of ours, for the document and its test.
QUERIES: tuple[type[Form], ...] = (IamKeyListQuery, MediaAccessEventQuery, WebhookDeliveryQuery)

# Every form of ours, for the document and its test.
FORMS: tuple[type[Form], ...] = (
    MessagingSettingsForm,
    MediaDeliveryForm,
    MediaRetentionForm,
    CarrierInboundForm,
    IamKeyCreateForm,
    IamKeyUpdateForm,
)
