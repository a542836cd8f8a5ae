"""Google Cloud clients, created once per process.

Each client library switches to its emulator by itself when `FIRESTORE_EMULATOR_HOST`,
`PUBSUB_EMULATOR_HOST` or `STORAGE_EMULATOR_HOST` is set; Cloud Storage additionally
needs anonymous credentials there, since no real credentials exist locally.
"""

from __future__ import annotations

import os
from functools import cache

import google.cloud.pubsub_v1 as pubsub_v1
import google.cloud.storage as storage
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from instapipe.config import settings


@cache
def firestore_client() -> firestore.Client:
    return firestore.Client(project=settings().google_cloud_project)


@cache
def publisher() -> pubsub_v1.PublisherClient:
    # Ordering keeps one account's stories in posting order for every consumer.
    options = pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    return pubsub_v1.PublisherClient(publisher_options=options)


@cache
def storage_client() -> storage.Client:
    project = settings().google_cloud_project
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return storage.Client(project=project, credentials=AnonymousCredentials())
    return storage.Client(project=project)


def topic_path() -> str:
    config = settings()
    return publisher().topic_path(config.google_cloud_project, config.stories_topic)
