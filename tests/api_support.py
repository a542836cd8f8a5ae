"""Helpers for the stories_json tests: archived stories in the emulators, a Flask
client around `api.handle_request`, a functions-framework server, and a small OpenAPI
checker."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flask
from flask.testing import FlaskClient

from instapipe import api, clients, signing, store
from instapipe.store import ArchivedStory
from instapipe.story import Location, Story
from stack.pipeline import serving
from tests.conftest import TEST_BUCKET

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = json.loads((ROOT / "docs" / "openapi.json").read_text())
USER_ID = "1111111111"
OTHER_USER_ID = "2222222222"
USERNAME = "owner.stories"


def media_bucket() -> Any:
    bucket = clients.storage_client().bucket(TEST_BUCKET)
    if not bucket.exists():
        bucket = clients.storage_client().create_bucket(TEST_BUCKET)
    return bucket


def archive(
    story_id: str,
    timestamp: int,
    *,
    user_id: str = USER_ID,
    url_ttl_s: int = 86400,
    is_video: bool = False,
    location: Location | None = None,
) -> ArchivedStory:
    """Puts a story's media into the bucket and its document into Firestore."""
    extension, content_type = (
        ("mp4", "video/mp4") if is_video else ("jpg", "image/jpeg")
    )
    object_name = f"{user_id}/{story_id}.{extension}"
    content = f"media of story {story_id}".encode()
    media_bucket().blob(object_name).upload_from_string(
        content, content_type=content_type
    )
    signed = signing.sign(object_name, ttl_s=url_ttl_s)
    archived = ArchivedStory(
        story=Story(
            id=story_id,
            user_id=user_id,
            username=USERNAME,
            timestamp=timestamp,
            expires_at=timestamp + 86400,
            is_video=is_video,
            media_url=f"https://scontent.cdninstagram.com/{story_id}.{extension}",
            source="private",
            width=1080,
            height=1920,
            duration_s=5.0 if is_video else None,
            location=location,
            permalink=f"https://www.instagram.com/stories/{USERNAME}/{story_id}/",
        ),
        bucket_path=f"gs://{TEST_BUCKET}/{object_name}",
        object_name=object_name,
        content_type=content_type,
        size_bytes=len(content),
        archived_at=timestamp + 60,
        signed_url=signed.url,
        signed_url_expires_at=signed.expires_at,
    )
    store.story_ref(user_id, story_id).set(archived.to_document())
    return archived


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def client() -> FlaskClient:
    """A Flask test client whose every method and path reaches `api.handle_request`."""
    app = flask.Flask("stories_json_test")

    def view(path: str = "") -> flask.Response:
        return api.handle_request(flask.request)

    methods = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
    app.add_url_rule(
        "/", "root", view, methods=methods, provide_automatic_options=False
    )
    app.add_url_rule(
        "/<path:path>", "path", view, methods=methods, provide_automatic_options=False
    )
    return app.test_client()


@contextmanager
def functions_framework_server(env: Mapping[str, str]) -> Iterator[str]:
    """`functions-framework --target stories_json` on a free port; yields its URL."""
    with serving("stories_json", {**os.environ, **env}) as server:
        yield server.url + "/"


# The OpenAPI checker: the JSON Schema keywords docs/openapi.json uses, no more.


def response_spec(status: int, method: str = "get") -> dict[str, Any]:
    responses = OPENAPI["paths"]["/"][method]["responses"]
    return resolve(responses[str(status)])


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        path = node["$ref"].removeprefix("#/").split("/")
        target: Any = OPENAPI
        for part in path:
            target = target[part]
        node = target
    return node


def schema_errors(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    schema = resolve(schema)
    errors: list[str] = []
    if "anyOf" in schema:
        options = [schema_errors(value, option, where) for option in schema["anyOf"]]
        if all(options):
            return [f"{where}: matches none of anyOf: {options}"]
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is_type(value, kind) for kind in kinds):
            return [f"{where}: {value!r} is not of type {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and _is_number(value) and value < schema["minimum"]:
        errors.append(f"{where}: {value!r} below {schema['minimum']}")
    if "maximum" in schema and _is_number(value) and value > schema["maximum"]:
        errors.append(f"{where}: {value!r} above {schema['maximum']}")
    pattern = schema.get("pattern")
    if isinstance(value, str) and pattern and not re.search(pattern, value):
        errors.append(f"{where}: {value!r} does not match {pattern}")
    if isinstance(value, dict):
        errors += _object_errors(value, schema, where)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{index}]")
    return errors


def _object_errors(
    value: dict[str, Any], schema: dict[str, Any], where: str
) -> list[str]:
    errors = [
        f"{where}: missing {name}"
        for name in schema.get("required", [])
        if name not in value
    ]
    properties = schema.get("properties", {})
    for name, item in value.items():
        if name in properties:
            errors += schema_errors(item, properties[name], f"{where}.{name}")
        elif schema.get("additionalProperties") is False:
            errors.append(f"{where}: unexpected property {name}")
    return errors


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_type(value: Any, kind: str) -> bool:
    checks = {
        "null": value is None,
        "boolean": type(value) is bool,
        "integer": type(value) is int,
        "number": _is_number(value),
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }
    return checks[kind]
