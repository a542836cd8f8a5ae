# The tick: Cloud Scheduler calls fetch_stories with an OIDC token on fetch_schedule.

resource "google_cloud_scheduler_job" "fetch" {
  name             = "${var.name_prefix}-fetch"
  description      = "Asks fetch_stories to look for new stories."
  region           = var.region
  schedule         = var.fetch_schedule
  time_zone        = var.fetch_schedule_time_zone
  attempt_deadline = "${local.timeouts_s.fetch_stories + 30}s"

  # A failed tick is not retried: the next one comes soon and does the same work.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    # The run.app address, which an internal-only function accepts from Cloud Scheduler
    # in the same project.
    uri = google_cloudfunctions2_function.function["fetch_stories"].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.function["fetch_stories"].service_config[0].uri
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_cloud_run_v2_service_iam_member.scheduler_invokes_fetch,
  ]
}
