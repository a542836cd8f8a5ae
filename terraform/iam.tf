# Every role the deployment grants, each on the one resource it concerns where GCP allows
# it. The two project-level grants say why no single resource would do.

locals {
  # Functions that sign V4 URLs of archived media through signBlob: the archive signs the
  # URL it stores with each story, the API re-signs URLs that are about to expire.
  # post_to_telegram signs nothing: it passes on the URL the archive stored.
  url_signers = ["archive_story", "stories_json"]

  # The documents each function reads or writes (functions/instapipe/store.py). Firestore
  # grants per database, not per document, so this is what the condition describes.
  firestore_documents = {
    fetch_stories    = "accounts/{id} (published, back-off, republish marks), sources/graph_token, telegram_chats/{chat} budget for alerts"
    archive_story    = "accounts/{id}/stories/{story} (created), accounts/{id} republish_story_ids"
    post_to_telegram = "accounts/{id}/stories/{story} (read), telegram_chats/{chat} budget, its deliveries/{story} ledger and accounts/{id}"
    stories_json     = "accounts/{id}/stories (read, re-signed URLs written back), accounts/{id}/opens/{day} counters"
  }
}

# Firestore has no IAM on a single database, let alone a document, only on the
# project. The condition narrows this project-level grant to the instapipe database,
# which is as close to one resource as Firestore allows. Every function reads and
# writes documents (firestore_documents above), so each needs datastore.user, the
# narrowest predefined role that writes.
resource "google_project_iam_member" "firestore_user" {
  for_each = local.functions

  project = var.google_cloud_project
  role    = "roles/datastore.user"
  member  = google_service_account.function[each.key].member

  condition {
    title       = "${var.name_prefix}-firestore-only"
    description = "Only the database instapipe uses: ${local.firestore_documents[each.key]}."
    expression  = "resource.name == \"projects/${var.google_cloud_project}/databases/${local.firestore_database}\""
  }
}

# fetch_stories publishes one message per new story: publish rights on that topic only.
resource "google_pubsub_topic_iam_member" "fetch_publishes_stories" {
  topic  = google_pubsub_topic.stories.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function["fetch_stories"].member
}

# archive_story uploads media from the Instagram CDN with a "does not exist yet"
# precondition: object creation, without the right to overwrite or delete, on the
# media bucket only.
resource "google_storage_bucket_iam_member" "archive_creates_media" {
  bucket = google_storage_bucket.media.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.function["archive_story"].member
}

# Object read on the media bucket only, for two reasons. A signed URL carries the
# signer's own access: it works only if the signing account may read the object, so
# every URL signer needs it. And archive_story lists and reads the objects under a
# story's prefix to adopt media an earlier delivery uploaded before it died.
resource "google_storage_bucket_iam_member" "signer_reads_media" {
  for_each = toset(local.url_signers)

  bucket = google_storage_bucket.media.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.function[each.key].member
}

# signBlob with a function's own identity: Token Creator on its own service account, so
# it can sign as itself and as no other account.
resource "google_service_account_iam_member" "signer_signs_as_itself" {
  for_each = toset(local.url_signers)

  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.function[each.key].member
}

# Each function reads only the secrets it uses (local.secrets in main.tf), each granted
# on that secret alone: fetch_stories the Instagram credential and, for the owner's
# alerts, the bot token; post_to_telegram the bot token.
resource "google_secret_manager_secret_iam_member" "reader" {
  for_each = local.secret_readers

  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.function].member
}

# Pub/Sub push authenticates as the pusher account: invoker on each consumer function
# only.
resource "google_cloud_run_v2_service_iam_member" "pusher_invokes_consumer" {
  for_each = local.consumers

  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.pusher.member
}

# Cloud Scheduler authenticates as the scheduler account: invoker on fetch_stories only.
resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_fetch" {
  location = var.region
  name     = google_cloudfunctions2_function.function["fetch_stories"].name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# stories_json is the public API that the viewer calls from any website: anyone may
# invoke it, and it is the only function that allows that.
resource "google_cloud_run_v2_service_iam_member" "public_invokes_api" {
  location = var.region
  name     = google_cloudfunctions2_function.function["stories_json"].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# The viewer's files are public: any website embeds them. Object read on the viewer
# bucket only; the media bucket enforces public access prevention unless media_public.
resource "google_storage_bucket_iam_member" "public_reads_viewer" {
  # checkov:skip=CKV_GCP_28: the viewer bucket is public on purpose and holds only instapipe.js and the demo page.
  bucket = google_storage_bucket.viewer.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

# Only when the owner opts out of a private archive (media_public): anyone may read the
# archived media at its plain storage.googleapis.com address. Object read only; listing
# the bucket stays closed, so a file is found only through its name.
resource "google_storage_bucket_iam_member" "public_reads_media" {
  # checkov:skip=CKV_GCP_28: public only when the owner sets media_public; private by default.
  count  = var.media_public ? 1 : 0
  bucket = google_storage_bucket.media.name
  role   = "roles/storage.legacyObjectReader"
  member = "allUsers"
}

# The Pub/Sub service agent moves undeliverable messages to the dead-letter topic: it
# needs publish rights on that topic only.
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  topic  = google_pubsub_topic.dead_letters.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

# ... and to acknowledge the message it forwarded, subscriber rights on each consumer
# subscription.
resource "google_pubsub_subscription_iam_member" "agent_acks_dead_letters" {
  for_each = local.consumers

  subscription = google_pubsub_subscription.consumer[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# The Pub/Sub service agent mints the push requests' OIDC tokens as the pusher account:
# Token Creator on that account only (needed in projects created before April 2021,
# harmless in newer ones).
resource "google_service_account_iam_member" "agent_signs_push_tokens" {
  service_account_id = google_service_account.pusher.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# Builds write their logs to Cloud Logging. Log writing is checked on the project, with
# no narrower resource to grant it on, so this role is project-level.
resource "google_project_iam_member" "build_writes_logs" {
  project = var.google_cloud_project
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

# Builds push the functions' images: writer on the functions' own repository only.
resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# Builds read the zipped source: object read on the source bucket only.
resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}
