output "stories_json_url" {
  description = "The public stories.json API; add ?user_id=<id> of a watched account."
  value       = local.stories_json_url
}

output "viewer_url" {
  description = "The demo page, showing the first watched account's stories."
  value       = local.viewer_url
}

output "viewer_script_url" {
  description = "instapipe.js, for a <script> tag on your own pages."
  value       = "https://storage.googleapis.com/${google_storage_bucket.viewer.name}/${google_storage_bucket_object.viewer_script.name}"
}

output "media_bucket" {
  description = "The private bucket holding the archived media."
  value       = google_storage_bucket.media.name
}

output "viewer_bucket" {
  description = "The public bucket serving the viewer."
  value       = google_storage_bucket.viewer.name
}

output "source_bucket" {
  description = "The private bucket holding the functions' source zips."
  value       = google_storage_bucket.source.name
}

output "secrets" {
  description = "Secret Manager secrets to fill with gcloud secrets versions add before the functions can start."
  value       = sort(keys(google_secret_manager_secret.secret))
}

output "scheduler_job" {
  description = "The Cloud Scheduler job that runs the fetch tick; gcloud scheduler jobs run it for a tick now."
  value       = google_cloud_scheduler_job.fetch.name
}

output "dead_letter_subscription" {
  description = "Pull subscription holding stories no consumer could handle."
  value       = google_pubsub_subscription.dead_letters.name
}

output "region" {
  description = "Region of the functions and the scheduler job, for gcloud's --region and --location."
  value       = var.region
}

output "function_services" {
  description = "Cloud Run service of each function by entry point, for reading its logs."
  value       = { for name, function in google_cloudfunctions2_function.function : name => function.name }
}
