from __future__ import annotations

import hashlib
import time
import urllib.request
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from instapipe import clients, signing
from stack.emulators import Emulators
from tests.conftest import TEST_BUCKET

OBJECT_NAME = "1111111111/2026-12-03/1796000000_3300000000000000001.jpg"


@pytest.fixture
def archived_object(cloud: Emulators) -> bytes:
    content = b"\xff\xd8\xff\xe0 a photo"
    bucket = clients.storage_client().create_bucket(TEST_BUCKET)
    bucket.blob(OBJECT_NAME).upload_from_string(content, content_type="image/jpeg")
    return content


def string_to_sign(url: str) -> tuple[str, bytes]:
    """Rebuilds what a V4 signature covers, as Cloud Storage does to check it."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    signature = query.pop("X-Goog-Signature")
    canonical_query = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items())
    )
    canonical_request = "\n".join(
        [
            "GET",
            parts.path,
            canonical_query,
            f"host:{parts.netloc}",
            "",
            query["X-Goog-SignedHeaders"],
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = query["X-Goog-Credential"].split("/", 1)[1]
    signed = "\n".join(
        [
            query["X-Goog-Algorithm"],
            query["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    return signature, signed.encode()


def test_a_signed_url_serves_the_object(archived_object: bytes) -> None:
    signed = signing.sign(OBJECT_NAME)

    with urllib.request.urlopen(signed.url, timeout=10) as response:
        assert response.read() == archived_object


def test_a_signed_url_verifies_against_the_local_key(archived_object: bytes) -> None:
    signed = signing.sign(OBJECT_NAME, ttl_s=3600)
    signature, payload = string_to_sign(signed.url)

    public_key = signing.local_signing_key().public_key()
    public_key.verify(
        bytes.fromhex(signature), payload, padding.PKCS1v15(), hashes.SHA256()
    )
    assert urlsplit(signed.url).path == f"/{TEST_BUCKET}/{quote(OBJECT_NAME)}"
    assert abs(signed.expires_at - (time.time() + 3600)) < 5
    assert "X-Goog-Expires=3600" in signed.url


def test_a_tampered_url_does_not_verify(archived_object: bytes) -> None:
    signed = signing.sign(OBJECT_NAME)
    signature, payload = string_to_sign(signed.url.replace(".jpg", ".png"))

    with pytest.raises(InvalidSignature):
        signing.local_signing_key().public_key().verify(
            bytes.fromhex(signature), payload, padding.PKCS1v15(), hashes.SHA256()
        )


def test_the_default_lifetime_is_the_configured_one(archived_object: bytes) -> None:
    assert "X-Goog-Expires=86400" in signing.sign(OBJECT_NAME).url
