"""What Discord publishes about its HTTP API (shared/specs/discord_openapi.json, OpenAPI 3.1,
whose schemas are JSON Schema 2020-12), as a check of every request the bot sent to the fake
Discord: each one must be an operation of the spec, and its body must validate against that
operation's requestBody schema, with no field the schema does not name (Discord ignores an
unknown field silently, so a misspelt `allowed_mentions` would ping everyone without an error).

The spec's known gaps (shared/specs/README.md) are patched here, each one on purpose:
- Message `content` is at most 2000 characters (the documented limit), not the 4000 the spec
  gives MessageCreateRequest, MessageEditRequestPartial and their bases.
- Snowflakes may be integers as well as strings: discord.py sends `allowed_mentions.users` and
  `message_reference` ids as ints, and Discord accepts both; the spec allows strings only.
- discord.py puts `tts: false` in every message body it builds, edits included, where the
  edit schemas name no `tts`: Discord ignores it. Tolerated on the two edit operations only
  (a channel message's, and an interaction's own message's through its webhook).
One documented limit the spec cannot express is added: the embeds of one message hold at most
6000 characters across their titles, descriptions, field names and values, footers and
authors (Discord's "Embed Limits")."""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from tests.fakes.discord_wire import Sent
from tests.paths import ROOT

API_PREFIX = "/api/v10"
# The published contracts sit in `shared/` beside the checkout (a git worktree may sit deeper).
SPECS = next(p / "shared" / "specs" for p in ROOT.parents if (p / "shared" / "specs").is_dir())
DOCUMENTED_CONTENT_LIMIT = 2000
_CONTENT_4000 = (
    "MessageCreateRequest",
    "MessageEditRequestPartial",
    "BaseCreateMessageCreateRequest",
    "SDKMessageRequest",
)
_INTEGER_SNOWFLAKE = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
_TOLERATED_FIELDS = {
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"): {"tts"},
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"): {"tts"},
}


@functools.cache
def published() -> dict[str, Any]:
    return dict(json.loads((SPECS / "discord_openapi.json").read_text()))


@functools.cache
def patched() -> dict[str, Any]:
    """The spec with its two known gaps closed (see the module docstring)."""
    spec = copy.deepcopy(published())
    schemas = spec["components"]["schemas"]
    for name in _CONTENT_4000:
        content = schemas[name]["properties"]["content"]
        assert content["maxLength"] == 4000, (name, content)  # the gap is still there
        content["maxLength"] = DOCUMENTED_CONTENT_LIMIT
    snowflake = schemas["SnowflakeType"]
    assert snowflake["type"] == "string", snowflake
    schemas["SnowflakeType"] = {"anyOf": [snowflake, _INTEGER_SNOWFLAKE]}
    return spec


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    schema: dict[str, Any] | None  # the requestBody schema for the body's media type


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    """Every path of the spec as a regex; literal paths first (`/messages/@original` before
    `/messages/{message_id}`), then by fewer parameters."""
    paths = sorted(published()["paths"], key=lambda t: (t.count("{"), -len(t)))
    return [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", t) + "$"), t) for t in paths]


def operation(sent: Sent) -> Operation:
    """The spec's operation for one request; AssertionError if Discord publishes none."""
    assert sent.path.startswith(API_PREFIX), sent.path
    path = sent.path.removeprefix(API_PREFIX)
    template = next((t for pattern, t in _templates() if pattern.match(path)), None)
    assert template is not None, f"{sent.method} {path}: no such path in Discord's API"
    item = patched()["paths"][template]
    op = item.get(sent.method.lower())
    assert op is not None, f"{sent.method} {template}: no such operation in Discord's API"
    content = (op.get("requestBody") or {}).get("content") or {}
    media = "multipart/form-data" if sent.files else "application/json"
    schema = (content.get(media) or {}).get("schema")
    return Operation(sent.method, template, schema)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref`s to the schema itself."""
    while "$ref" in schema:
        schema = _at(schema["$ref"])
    return schema


def _at(ref: str) -> dict[str, Any]:
    node: Any = patched()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return dict(node)


def _named_fields(schema: dict[str, Any]) -> set[str] | None:
    """The top-level fields a body may have under `schema`; None when it names none (any)."""
    schema = _resolve(schema)
    names: set[str] = set(schema.get("properties") or {})
    open_ended = "properties" not in schema
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key) or []:
            more = _named_fields(part)
            if more is None:
                continue
            names |= more
            open_ended = False
    return None if open_ended else names


@functools.cache
def _validator(method: str, template: str, multipart: bool) -> Draft202012Validator:
    media = "multipart/form-data" if multipart else "application/json"
    op = patched()["paths"][template][method.lower()]
    schema = op["requestBody"]["content"][media]["schema"]
    # The operation's schema refers to `#/components/...`: give it the spec's components.
    return Draft202012Validator({**schema, "components": patched()["components"]})


_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def _query_problems(sent: Sent, template: str) -> list[str]:
    """Each query parameter must be one the operation names, of its type (a query string
    carries text: integers and booleans are read the way Discord reads them)."""
    where = f"{sent.method} {template}"
    item = patched()["paths"][template]
    declared = {
        p["name"]: p["schema"]
        for p in [*item.get("parameters", []), *item[sent.method.lower()].get("parameters", [])]
        if p.get("in") == "query"
    }
    found = []
    for name, text in sent.query.items():
        schema = declared.get(name)
        if schema is None:
            found.append(f"{where}: ?{name}: not a query parameter of this operation")
            continue
        kind = _resolve(schema).get("type")
        value: object = text
        if kind == "integer" and text.lstrip("-").isdigit():
            value = int(text)
        elif kind == "boolean" and text.lower() in _BOOLEANS:
            value = _BOOLEANS[text.lower()]
        validator = Draft202012Validator({**schema, "components": patched()["components"]})
        found += [f"{where}: ?{name}={text}: {e.message}" for e in validator.iter_errors(value)]
    return found


def problems(sent: Sent) -> list[str]:
    """Every way one request breaks the published contract (empty: it conforms)."""
    op = operation(sent)
    where = f"{sent.method} {op.template}"
    queried = _query_problems(sent, op.template)
    if sent.body is None or sent.method in ("GET", "DELETE"):
        return queried
    if op.schema is None:
        return [*queried, f"{where}: Discord's API takes no body here, but one was sent"]
    validator = _validator(sent.method, op.template, bool(sent.files))
    found = queried + [_said(where, e) for e in validator.iter_errors(sent.body)]
    if isinstance(sent.body, dict):
        found += _embed_total(where, sent.body)
        fields = _named_fields(op.schema)
        tolerated = _TOLERATED_FIELDS.get((sent.method, op.template), set())
        unknown = set(sent.body) - fields - tolerated if fields is not None else set()
        found += [f"{where}: {name}: not a field of this operation" for name in sorted(unknown)]
    return found


def _leaves(error: ValidationError) -> list[ValidationError]:
    if not error.context:
        return [error]
    return [leaf for inner in error.context for leaf in _leaves(inner)]


def _said(where: str, error: ValidationError) -> str:
    # A union (anyOf, oneOf) says only "not valid under any": name the complaint that got
    # deepest into the body, which is the variant that was meant (null is never it).
    error = max(_leaves(error), key=lambda e: (len(e.absolute_path), e.validator != "type"))
    return f"{where}: {'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message}"


EMBED_TOTAL_LIMIT = 6000


def _embed_total(where: str, body: dict[str, Any]) -> list[str]:
    embeds = body.get("embeds") or (body.get("data") or {}).get("embeds") or []
    total = 0
    for embed in embeds:
        total += len(embed.get("title") or "") + len(embed.get("description") or "")
        total += len((embed.get("footer") or {}).get("text") or "")
        total += len((embed.get("author") or {}).get("name") or "")
        total += sum(len(f.get("name") or "") + len(f.get("value") or "")
                     for f in embed.get("fields") or [])  # fmt: skip
    if total > EMBED_TOTAL_LIMIT:
        return [f"{where}: embeds: {total} characters, over the {EMBED_TOTAL_LIMIT} allowed"]
    return []


def api_requests(sent: Iterable[Sent]) -> list[Sent]:
    """The REST calls among everything the fake saw (not its CDN or gateway socket)."""
    return [s for s in sent if s.path.startswith(API_PREFIX)]


def assert_conforms(sent: Iterable[Sent]) -> list[Operation]:
    """Fails listing every request that breaks Discord's published contract; returns the
    operations seen, for tests that check what was covered."""
    requests = api_requests(sent)
    found = [problem for s in requests for problem in problems(s)]
    assert not found, "requests that break Discord's published API:\n" + "\n".join(found)
    return [operation(s) for s in requests]
