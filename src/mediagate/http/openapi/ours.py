"""Our half of the API: what Twilio's files omit (the media content URL) and our
own ``/v1`` resources, whose forms (``api/forms.py``) and bodies
(``api/representations.py``) are pydantic models: the schemas here are theirs."""

from __future__ import annotations

from mediagate.api import forms
from mediagate.api import representations as rep
from mediagate.http.openapi.components import Json, components, query_parameters
from mediagate.http.openapi.shapes import API_ERRORS, PAGE_PARAMS, answer, form_body, op, path_param

ACCOUNT = path_param("AccountSid", "AC", "The account that owns the resource.")
MESSAGE = {
    "name": "MessageSid",
    "in": "path",
    "required": True,
    "description": "The message (SM or MM) the media belongs to.",
    "schema": {"type": "string", "minLength": 34, "maxLength": 34, "pattern": "^(SM|MM)[0-9a-fA-F]{32}$"},
}
MEDIA = path_param("Sid", "ME", "The media.")


def schemas() -> Json:
    """The components of our forms and bodies."""
    return components(
        [
            *((form, "validation") for form in forms.FORMS),
            *((body, "serialization") for body in rep.RESOURCES),
        ]
    )


def _content_url() -> Json:
    redirect = {
        "description": "To a signed URL on the secured media host (media that requires auth), or to the "
        "public media host (legacy media). Follow it without the credentials: another host.",
        "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
    }
    direct = {
        "description": "The bytes themselves, for accounts whose MediaDelivery mode is direct (credentials "
        "required); Range, HEAD and If-None-Match as on the secured media host.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
    content_errors = {k: v for k, v in API_ERRORS.items() if k != "403"}
    content: Json = {
        "parameters": [ACCOUNT, MESSAGE, MEDIA],
        "description": "The media content URL (Twilio documents it only in prose). With Enforce HTTP "
        "Auth on Media URLs, Basic auth is required; the answer is a 307, not the bytes.",
    }
    for method in ("get", "head"):
        content[method] = op(
            f"{'Fetch' if method == 'get' else 'Head'}MediaContent",
            "Redirect to the media's bytes",
            {
                "200": direct,
                "206": direct,
                "304": {"description": "Not modified (direct mode)"},
                "307": redirect,
                **content_errors,
            },
        )
    return content


def paths() -> Json:
    """Our API operations (Basic auth, Twilio error bodies)."""
    return {
        "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}": _content_url(),
        "/v1/Accounts/{AccountSid}/MessagingSettings": {
            "parameters": [ACCOUNT],
            "description": "Enforce HTTP Auth on Media URLs (ours: Twilio has it only in its console). "
            "Applies to media created afterwards.",
            "get": op(
                "FetchMessagingSettings",
                "Read the setting",
                {"200": answer(rep.MessagingSettings, "The setting"), **API_ERRORS},
            ),
            "post": op(
                "UpdateMessagingSettings",
                "Change the setting (recorded in its history)",
                {"200": answer(rep.MessagingSettings, "The setting"), **API_ERRORS},
                requestBody=form_body(forms.MessagingSettingsForm),
            ),
        },
        "/v1/Accounts/{AccountSid}/MediaDelivery": {
            "parameters": [ACCOUNT],
            "description": "How the content URL hands over media (ours): redirect (a 307 to a media host, "
            "Twilio's behaviour) or direct (the bytes themselves, auth still required).",
            "get": op(
                "FetchMediaDelivery",
                "Read the mode",
                {"200": answer(rep.MediaDelivery, "The mode"), **API_ERRORS},
            ),
            "post": op(
                "UpdateMediaDelivery",
                "Change the mode (other processes follow within MEDIAGATE_DIRECT_DELIVERY_REFRESH)",
                {"200": answer(rep.MediaDelivery, "The mode"), **API_ERRORS},
                requestBody=form_body(forms.MediaDeliveryForm),
            ),
        },
        "/v1/Accounts/{AccountSid}/MediaRetention": {
            "parameters": [ACCOUNT],
            "description": "When the account's media are deleted (ours: Twilio keeps media until it is "
            "deleted). Applied by a background job in batches, each with an audit row.",
            "get": op(
                "FetchMediaRetention",
                "Read the retention rule",
                {"200": answer(rep.MediaRetention, "The rule"), **API_ERRORS},
            ),
            "post": op(
                "UpdateMediaRetention",
                "Change the retention rule (fields not given are kept)",
                {"200": answer(rep.MediaRetention, "The rule"), **API_ERRORS},
                requestBody=form_body(forms.MediaRetentionForm),
            ),
        },
        "/v1/Accounts/{AccountSid}/WebhookDeliveries": {
            "parameters": [ACCOUNT],
            "get": op(
                "ListWebhookDelivery",
                "Webhook deliveries (inbound, status callbacks) with each attempt, newest first (ours)",
                {"200": answer(rep.WebhookDeliveryPage, "A page"), **API_ERRORS},
                parameters=[*query_parameters(forms.WebhookDeliveryQuery), *PAGE_PARAMS],
            ),
        },
        "/v1/Accounts/{AccountSid}/Media/{Sid}/Revocations": {
            "parameters": [ACCOUNT, MEDIA],
            "description": "Early revocation (ours): every signed URL of this media issued until now is "
            "refused by the secured host; other media are untouched and a fresh URL works. In presign "
            "delivery the object also moves to a new key, so old presigned URLs answer 404.",
            "post": op(
                "CreateMediaRevocation",
                "Revoke the media's outstanding signed URLs",
                {"201": answer(rep.Revocation, "The revocation"), **API_ERRORS},
            ),
        },
        "/v1/Accounts/{AccountSid}/MediaRevocations": {
            "parameters": [ACCOUNT],
            "description": "Early revocation (ours) of every signed media URL of the account "
            "issued until now.",
            "post": op(
                "CreateAccountMediaRevocation",
                "Revoke every outstanding signed media URL of the account",
                {"201": answer(rep.Revocation, "The revocation"), **API_ERRORS},
            ),
        },
        "/v1/Accounts/{AccountSid}/MediaAccessEvents": {
            "parameters": [ACCOUNT],
            "get": op(
                "ListMediaAccessEvent",
                "Who fetched which media, when, and the answer (content URL and media hosts), "
                "newest first (ours)",
                {"200": answer(rep.MediaAccessEventPage, "A page"), **API_ERRORS},
                parameters=[*query_parameters(forms.MediaAccessEventQuery), *PAGE_PARAMS],
            ),
        },
        "/v1/Carrier/Inbound": {
            "description": "Carrier-simulation ingress (ours): deliver an inbound message to a number "
            "owned here, with a carrier credential (mediagate carrier credentials create).",
            "post": op(
                "CreateCarrierInbound",
                "Deliver an inbound SMS/MMS/WhatsApp message",
                {
                    # The message is Twilio's resource: its schema is Twilio's.
                    "201": {
                        "description": "The stored inbound message",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/api.v2010.account.message"}
                            }
                        },
                    },
                    **API_ERRORS,
                },
                requestBody=form_body(forms.CarrierInboundForm),
            ),
        },
        "/v1/Keys": {
            "description": "Twilio's IAM v1 keys (twilio-python: client.iam.v1), including restricted keys.",
            "get": op(
                "ListGetApiKeys",
                "List an account's keys",
                {"200": answer(rep.IamKeyList, "A page"), **API_ERRORS},
                parameters=[*query_parameters(forms.IamKeyListQuery), *PAGE_PARAMS],
            ),
            "post": op(
                "CreateNewApiKey",
                "Create a standard or restricted key (the secret is shown once)",
                {"201": answer(rep.NewIamKey, "The key with its secret"), **API_ERRORS},
                requestBody=form_body(forms.IamKeyCreateForm),
            ),
        },
        "/v1/Keys/{Sid}": {
            "parameters": [path_param("Sid", "SK", "The key.")],
            "get": op("FetchApiKey", "Fetch a key", {"200": answer(rep.IamKey, "Key"), **API_ERRORS}),
            "post": op(
                "UpdateApiKey",
                "Rename a key or change a restricted key's Policy",
                {"200": answer(rep.IamKey, "Key"), **API_ERRORS},
                requestBody=form_body(forms.IamKeyUpdateForm),
            ),
            "delete": op(
                "DeleteApiKey", "Revoke a key at once", {"204": {"description": "Deleted"}, **API_ERRORS}
            ),
        },
    }
