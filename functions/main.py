"""Cloud Functions entry points: decode the request or event, call one function."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent
from flask import Request, Response

from instapipe import api, archiving, config, events, fetching, logs, telegram

logs.configure()
# Read at cold start, so a missing or malformed setting fails the deployment's first
# request loudly instead of some later one quietly.
config.settings()


@functions_framework.http
def fetch_stories(request: Request) -> Response:
    return fetching.handle_request(request)


@functions_framework.cloud_event
def archive_story(cloud_event: CloudEvent) -> None:
    events.consume(cloud_event.data, archiving.archive, consumer="archive_story")


@functions_framework.cloud_event
def post_to_telegram(cloud_event: CloudEvent) -> None:
    events.consume(cloud_event.data, telegram.deliver, consumer="post_to_telegram")


@functions_framework.http
def stories_json(request: Request) -> Response:
    return api.handle_request(request)
