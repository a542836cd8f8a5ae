# The four functions, built from one zip of functions/, each running as its own service
# account; the accounts that build and call them.

resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "${var.name_prefix}-${each.value.short_name}"
  display_name = "instapipe ${each.key}"
  description  = "Runs the ${each.key} function; holds only the roles in iam.tf."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "instapipe function builds"
  description  = "Builds the functions' images instead of the default Compute Engine account."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "pusher" {
  account_id   = "${var.name_prefix}-pusher"
  display_name = "instapipe Pub/Sub push"
  description  = "Identity of Pub/Sub's push requests to the consumer functions."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "scheduler" {
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "instapipe fetch tick"
  description  = "Identity of Cloud Scheduler's requests to fetch_stories."

  depends_on = [google_project_service.enabled]
}

# Built images go to a repository of their own, so the build account can be given write
# access to it alone, and old images are cleaned up.
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84: Google-managed encryption; the images hold only this repository's public code.
  repository_id = "${var.name_prefix}-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "Images of the instapipe functions."

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]
}

# No function has an Eventarc trigger: the subscriptions Eventarc creates have no
# dead-letter topic, so the consumers get push subscriptions of their own (pubsub.tf).
# Their @functions_framework.cloud_event decorator makes the framework read a push body
# as a CloudEvent.
resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  name        = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  location    = var.region
  description = "instapipe ${each.key} (${each.value.trigger})"

  build_config {
    runtime           = "python311"
    entry_point       = each.key
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = local.timeouts_s[each.key]
    max_instance_count               = each.value.max_instances
    min_instance_count               = 0
    max_instance_request_concurrency = each.value.concurrency
    all_traffic_on_latest_revision   = true
    # Only the public API is reachable from the internet. Cloud Run's ingress rules
    # count Cloud Scheduler and Pub/Sub push from the same project as internal traffic
    # when they call the run.app URL (service_config.uri) rather than a custom domain,
    # and that URL is the address both are given.
    ingress_settings      = each.value.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    environment_variables = local.function_env

    dynamic "secret_environment_variables" {
      for_each = [for key, reader in local.secret_readers : reader.secret if reader.function == each.key]
      content {
        key        = secret_environment_variables.value
        project_id = var.google_cloud_project
        secret     = google_secret_manager_secret.secret[secret_environment_variables.value].secret_id
        # Read when an instance starts: a new version reaches new instances by itself.
        version = "latest"
      }
    }
  }

  lifecycle {
    # The timeouts grow with the settings they are derived from (busy_s in main.tf), but
    # a push subscription cannot wait longer than 600 s for a consumer.
    precondition {
      condition     = local.timeouts_s[each.key] <= local.max_timeout_s
      error_message = "${each.key} would need a timeout of ${local.timeouts_s[each.key]} s with these settings, more than ${local.max_timeout_s} s: lower telegram_timeout_s, media_timeout_s, media_attempts, media_backoff_s, instagram_timeout_s, instagram_attempts or instagram_retry_base_s (see busy_s in main.tf)."
    }
  }

  # A function starts only once it may read its secrets and its build may run.
  depends_on = [
    google_secret_manager_secret_iam_member.reader,
    google_project_iam_member.build_writes_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_source,
  ]
}
