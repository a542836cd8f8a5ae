# What the deployment is made of, in one place: the settings every function reads, the
# four functions and the secrets each may read. The other files build resources from
# these maps.

data "google_project" "this" {
  project_id = var.google_cloud_project
}

locals {
  media_bucket  = coalesce(var.media_bucket, "${var.google_cloud_project}-${var.name_prefix}-media")
  viewer_bucket = coalesce(var.viewer_bucket, "${var.google_cloud_project}-${var.name_prefix}-viewer")
  source_bucket = "${var.google_cloud_project}-${var.name_prefix}-source"

  # Every setting of functions/instapipe/config.py that the deployment passes on, keyed
  # by its name in lower case; the environment variable is the same name in upper case.
  # To pass a new setting: add a variable of that name and one line here.
  settings = {
    google_cloud_project    = var.google_cloud_project
    instagram_user_ids      = join(",", var.instagram_user_ids)
    media_bucket            = local.media_bucket
    instagram_source        = var.instagram_source
    instagram_graph_url     = var.instagram_graph_url
    instagram_timeout_s     = var.instagram_timeout_s
    telegram_chat_id        = var.telegram_chat_id
    telegram_timezone       = var.telegram_timezone
    telegram_quiet_hours    = var.telegram_quiet_hours
    telegram_link_instagram = var.telegram_link_instagram
    telegram_timeout_s      = var.telegram_timeout_s
    stories_topic           = google_pubsub_topic.stories.name
    media_max_bytes         = var.media_max_bytes
    media_timeout_s         = var.media_timeout_s
    signed_url_ttl_s        = var.signed_url_ttl_s
    api_cache_s             = var.api_cache_s
    api_count_opens         = var.api_count_opens
  }

  # Unset (null) settings stay out of the environment, so the code's defaults apply.
  function_env = {
    for name, value in local.settings : upper(name) => tostring(value) if value != null
  }

  # Keyed by entry point in functions/main.py. A consumer's push subscription waits
  # timeout_s plus a margin for the answer, so timeout_s stays at most 540 s (Pub/Sub
  # allows a 600 s ack deadline).
  functions = {
    fetch_stories = {
      trigger       = "http"
      short_name    = "fetch"
      public        = false
      memory        = "256Mi"
      cpu           = null
      concurrency   = 1
      max_instances = 1
      timeout_s     = 120
    }
    archive_story = {
      trigger       = "cloudevent"
      short_name    = "archive"
      public        = false
      memory        = "512Mi"
      cpu           = null
      concurrency   = 1
      max_instances = 5
      timeout_s     = 300
    }
    post_to_telegram = {
      trigger    = "cloudevent"
      short_name = "telegram"
      public     = false
      memory     = "512Mi"
      cpu        = null
      # One message at a time keeps the chat's posting order and its rate limit in one
      # place.
      concurrency   = 1
      max_instances = 1
      timeout_s     = 300
    }
    stories_json = {
      trigger       = "http"
      short_name    = "api"
      public        = true
      memory        = "512Mi"
      cpu           = "1"
      concurrency   = 40
      max_instances = 10
      timeout_s     = 30
    }
  }

  consumers = { for name, function in local.functions : name => function if function.trigger == "cloudevent" }

  # Each secret is created only when the chosen configuration needs it, because a
  # function cannot start with a secret that has no version yet. The secret id is the
  # environment variable's name.
  secrets = {
    INSTAGRAM_SESSIONID = {
      enabled = var.instagram_source == "private"
      readers = ["fetch_stories"]
    }
    INSTAGRAM_ACCESS_TOKEN = {
      enabled = var.instagram_source == "graph"
      readers = ["fetch_stories"]
    }
    # fetch_stories sends the owner's alerts (dead session, expiring token) itself.
    TELEGRAM_BOT_TOKEN = {
      enabled = var.telegram_chat_id != null
      readers = ["fetch_stories", "post_to_telegram"]
    }
  }
  enabled_secrets = { for name, secret in local.secrets : name => secret if secret.enabled }
  secret_readers = merge([
    for name, secret in local.enabled_secrets : {
      for reader in secret.readers : "${name}/${reader}" => { secret = name, function = reader }
    }
  ]...)

  services = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    # signBlob, with which the functions sign media URLs without a key file.
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.services)

  project = var.google_cloud_project
  service = each.value
  # Turning an API off on destroy would break anything else in the project using it.
  disable_on_destroy = false
}
