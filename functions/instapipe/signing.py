"""V4 signed URLs to archived media, signed without a private key file.

A Cloud Function has no private key of its own: the signature comes from the IAM
Credentials signBlob call of the runtime service account (which therefore needs the
Token Creator role on itself). Against fake-gcs-server (`STORAGE_EMULATOR_HOST` set) a
throwaway key made once per process signs instead, and the URLs point at the emulator,
which serves them without checking the signature.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import google.auth
import google.auth.transport.requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from instapipe.clients import storage_client
from instapipe.config import settings

LOCAL_SIGNER_EMAIL = "instapipe-local-signer@instapipe-local.iam.gserviceaccount.com"
_TOKEN_URI = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: int


def sign(object_name: str, ttl_s: int | None = None) -> SignedUrl:
    """A GET URL for `object_name` in the media bucket, valid for `ttl_s` seconds."""
    config = settings()
    ttl_s = ttl_s or config.signed_url_ttl_s
    expires_at = int(time.time()) + ttl_s
    blob = storage_client().bucket(config.media_bucket).blob(object_name)
    url = blob.generate_signed_url(
        version="v4",
        method="GET",
        expiration=timedelta(seconds=ttl_s),
        **_signer(),
    )
    return SignedUrl(url=url, expires_at=expires_at)


def _signer() -> dict[str, Any]:
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        return {"credentials": local_credentials(), "api_access_endpoint": emulator}
    credentials = _runtime_credentials()
    if not credentials.valid:
        credentials.refresh(google.auth.transport.requests.Request())
    # With an email and a token instead of a key, the library signs through signBlob.
    return {
        "service_account_email": credentials.service_account_email,
        "access_token": credentials.token,
    }


@cache
def _runtime_credentials() -> Any:
    credentials, _project = google.auth.default(
        scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    return credentials


@cache
def local_signing_key() -> rsa.RSAPrivateKey:
    """The throwaway key that signs URLs for the emulator, made once per process."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def local_credentials() -> service_account.Credentials:
    pem = local_signing_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "client_email": LOCAL_SIGNER_EMAIL,
            "private_key": pem.decode(),
            "token_uri": _TOKEN_URI,
            "project_id": settings().google_cloud_project,
        }
    )
