# The stories topic, one push subscription per consumer function, and the dead-letter
# topic where a story lands after max_delivery_attempts failed deliveries.

locals {
  # Pub/Sub's own service agent forwards messages to the dead-letter topic and mints the
  # OIDC tokens of push requests.
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  # Pub/Sub waits this much beyond a consumer's timeout before it redelivers, so a slow
  # but successful run is not delivered a second time while it still works.
  ack_margin_s = 30
}

resource "google_pubsub_topic" "stories" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption; a customer key adds a KMS key to run and pay for, for public stories.
  name = var.stories_topic

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "dead_letters" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption, as for the stories topic.
  name = "${var.name_prefix}-dead-letters"

  depends_on = [google_project_service.enabled]
}

# Nothing is lost silently: a dead-lettered story waits here for the owner to inspect
# and re-publish it (docs/deploy.md), for Pub/Sub's longest retention.
resource "google_pubsub_subscription" "dead_letters" {
  name                       = "${var.name_prefix}-dead-letters"
  topic                      = google_pubsub_topic.dead_letters.id
  ack_deadline_seconds       = 60
  message_retention_duration = "2678400s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "consumer" {
  for_each = local.consumers

  name                       = "${var.name_prefix}-${each.value.short_name}"
  topic                      = google_pubsub_topic.stories.id
  ack_deadline_seconds       = local.timeouts_s[each.key] + local.ack_margin_s
  message_retention_duration = "604800s"
  # One account's stories reach each consumer in posting order (the ordering key is the
  # account's user id).
  enable_message_ordering = true

  push_config {
    # The run.app address: Pub/Sub's requests to it count as internal traffic, which an
    # internal-only function accepts.
    push_endpoint = google_cloudfunctions2_function.function[each.key].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.pusher.email
      audience              = google_cloudfunctions2_function.function[each.key].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letters.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # A subscription without traffic for 31 days would otherwise be deleted, and with it
  # every story published afterwards.
  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.agent_publishes_dead_letters,
    google_service_account_iam_member.agent_signs_push_tokens,
  ]
}
