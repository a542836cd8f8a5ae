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
    google_cloud_project           = var.google_cloud_project
    instagram_user_ids             = join(",", var.instagram_user_ids)
    media_bucket                   = local.media_bucket
    instagram_source               = var.instagram_source
    instagram_api_url              = var.instagram_api_url
    instagram_graph_url            = var.instagram_graph_url
    instagram_timeout_s            = var.instagram_timeout_s
    telegram_chat_id               = var.telegram_chat_id
    telegram_api_url               = var.telegram_api_url
    telegram_timezone              = var.telegram_timezone
    telegram_quiet_hours           = var.telegram_quiet_hours
    telegram_link_instagram        = var.telegram_link_instagram
    telegram_timeout_s             = var.telegram_timeout_s
    stories_topic                  = google_pubsub_topic.stories.name
    media_max_bytes                = var.media_max_bytes
    media_timeout_s                = var.media_timeout_s
    signed_url_ttl_s               = var.signed_url_ttl_s
    api_cache_s                    = var.api_cache_s
    api_count_opens                = var.api_count_opens
    instagram_batch_size           = var.instagram_batch_size
    instagram_attempts             = var.instagram_attempts
    instagram_retry_base_s         = var.instagram_retry_base_s
    instagram_rate_limit_backoff_s = var.instagram_rate_limit_backoff_s
    instagram_token_refresh        = var.instagram_token_refresh
    media_attempts                 = var.media_attempts
    media_backoff_s                = var.media_backoff_s
    telegram_max_per_minute        = var.telegram_max_per_minute
  }

  # Unset (null) settings stay out of the environment, so the code's defaults apply.
  function_env = {
    for name, value in local.settings : upper(name) => tostring(value) if value != null
  }

  # config.py's defaults of the settings the timeouts below are derived from, and the
  # values in effect: a null variable leaves the code's default.
  code_defaults = {
    instagram_timeout_s    = 10
    instagram_attempts     = 3
    instagram_retry_base_s = 1
    telegram_timeout_s     = 60
    media_timeout_s        = 30
    media_attempts         = 3
    media_backoff_s        = 2
  }
  waits = { for name, value in local.code_defaults : name => coalesce(local.settings[name], value) }

  # The longest each function's code may wait on others with these settings, in
  # seconds: its timeout (timeouts_s) is at least that, so raising a setting never lets
  # the platform cut short a run the code would have finished (functions.tf fails the
  # plan if the result is above max_timeout_s).
  busy_s = {
    # One Instagram request with all its tries and the random waits between them
    # (sources/__init__.py), Pub/Sub's confirmation of what was published
    # (fetching.PUBLISH_TIMEOUT_S = 60) and one owner alert (two Bot API timeouts, as
    # for a delivery). A tick of several batches or Graph accounts may take longer and
    # is cut off; the next tick repeats what was not recorded.
    fetch_stories = ceil(
      local.waits.instagram_attempts * local.waits.instagram_timeout_s
      + local.waits.instagram_retry_base_s * (pow(2, local.waits.instagram_attempts) - 2)
      + 60 + 2 * local.waits.telegram_timeout_s + 30
    )
    # Every try of the media download and the doubling waits between them
    # (media.with_retries), then the upload and the Firestore write.
    archive_story = ceil(
      local.waits.media_attempts * local.waits.media_timeout_s
      + local.waits.media_backoff_s * (pow(2, local.waits.media_attempts - 1) - 1)
      + 30
    )
    # The media download, then the chat's budget wait and the send, which together end
    # within two Bot API timeouts of the claim (telegram.py), then the ledger write.
    post_to_telegram = ceil(local.waits.media_timeout_s + 2 * local.waits.telegram_timeout_s + 30)
  }
  # A consumer's push subscription waits its timeout plus ack_margin_s for the answer,
  # and Pub/Sub allows an ack deadline of at most 600 s.
  max_timeout_s = 540

  # Keyed by entry point in functions/main.py.
  functions = {
    fetch_stories = {
      trigger       = "http"
      short_name    = "fetch"
      public        = false
      memory        = "256Mi"
      cpu           = null
      concurrency   = 1
      max_instances = 1
      min_timeout_s = 120
    }
    archive_story = {
      trigger       = "cloudevent"
      short_name    = "archive"
      public        = false
      memory        = "512Mi"
      cpu           = null
      concurrency   = 1
      max_instances = 5
      # The media download's own timeout is per read: a large file takes longer.
      min_timeout_s = 300
    }
    post_to_telegram = {
      trigger    = "cloudevent"
      short_name = "telegram"
      public     = false
      memory     = "512Mi"
      cpu        = null
      # One message per instance; Pub/Sub sends one account's stories one at a time
      # (ordering key) and the chat's rate budget is shared through Firestore, so a few
      # instances keep one account's slow upload from turning others away (a 429 from
      # a busy service counts as a failed delivery towards the dead letters).
      concurrency   = 1
      max_instances = 3
      # Room for a second download too (a too-large video's cover, an expired link's
      # archived copy).
      min_timeout_s = 300
    }
    stories_json = {
      trigger       = "http"
      short_name    = "api"
      public        = true
      memory        = "512Mi"
      cpu           = "1"
      concurrency   = 40
      max_instances = 10
      min_timeout_s = 30
    }
  }

  # Each function's timeout: its minimum, or longer where the settings make its code
  # wait longer (busy_s). Kept out of local.functions so that map stays known before
  # the settings are.
  timeouts_s = {
    for name, function in local.functions : name => max(function.min_timeout_s, lookup(local.busy_s, name, 0))
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
