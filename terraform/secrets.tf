# The secrets' values never pass through Terraform, so they never land in its state: the
# owner adds them with `gcloud secrets versions add` (docs/deploy.md).

resource "google_secret_manager_secret" "secret" {
  for_each = local.enabled_secrets

  secret_id = each.key

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}
