# The three buckets: archived media (private), the functions' source zips (private) and
# the viewer (public).

locals {
  # The demo page's <instapipe-stories> element names its stories.json in its src
  # attribute, which viewer/index.html sets for a local stack. The uploaded copy points
  # it at the deployed API and the first watched account, whatever it said before:
  # group 1 is the start of the element up to the opening quote of src, group 2 the
  # closing quote.
  viewer_src_pattern = "(<instapipe-stories(?:\\s[^>]*?)?\\ssrc=\")[^\"]*(\")"
  viewer_page_source = file("${path.module}/../viewer/index.html")
  viewer_page = replace(
    local.viewer_page_source,
    "/${local.viewer_src_pattern}/",
    "$${1}${local.stories_json_url}?user_id=${var.instagram_user_ids[0]}$${2}",
  )
  stories_json_url = google_cloudfunctions2_function.function["stories_json"].url
  viewer_url       = "https://storage.googleapis.com/${google_storage_bucket.viewer.name}/index.html"
}

resource "google_storage_bucket" "media" {
  # checkov:skip=CKV_GCP_62: access logs would need a second bucket; Cloud Audit Logs record who reads the archive.
  # checkov:skip=CKV_GCP_78: versioning is the owner's choice (media_protection); a retention policy excludes it.
  name                        = local.media_bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = var.media_public ? "inherited" : "enforced"
  # The archive is the owner's copy of their stories: terraform destroy must not empty it.
  force_destroy = false

  versioning {
    enabled = var.media_protection == "versioning"
  }

  dynamic "retention_policy" {
    for_each = var.media_protection == "retention" ? [var.media_retention_days] : []
    content {
      retention_period = tostring(retention_policy.value * 86400)
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.media_protection == "versioning" ? [90] : []
    content {
      condition {
        days_since_noncurrent_time = lifecycle_rule.value
        with_state                 = "ARCHIVED"
      }
      action {
        type = "Delete"
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket" "source" {
  # checkov:skip=CKV_GCP_62: holds only build inputs that are also in the repository.
  # checkov:skip=CKV_GCP_78: every zip's name carries its content hash, so nothing is overwritten.
  name                        = local.source_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  lifecycle_rule {
    condition {
      # Zips are only read while a function builds.
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket" "viewer" {
  # checkov:skip=CKV_GCP_62: serves two public files; there is nothing private to audit.
  # checkov:skip=CKV_GCP_78: the files are uploaded from the repository on every apply.
  # checkov:skip=CKV_GCP_114: this bucket is public on purpose: it serves the viewer to any website.
  name                        = local.viewer_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "inherited"
  force_destroy               = true

  website {
    main_page_suffix = "index.html"
  }

  cors {
    origin          = ["*"]
    method          = ["GET", "HEAD"]
    response_header = ["Content-Type"]
    max_age_seconds = 3600
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_object" "viewer_script" {
  name          = "instapipe.js"
  bucket        = google_storage_bucket.viewer.name
  source        = "${path.module}/../viewer/instapipe.js"
  content_type  = "text/javascript; charset=utf-8"
  cache_control = "public, max-age=300"
}

resource "google_storage_bucket_object" "viewer_page" {
  name          = "index.html"
  bucket        = google_storage_bucket.viewer.name
  content       = local.viewer_page
  content_type  = "text/html; charset=utf-8"
  cache_control = "public, max-age=300"

  lifecycle {
    precondition {
      condition     = can(regex(local.viewer_src_pattern, local.viewer_page_source))
      error_message = "viewer/index.html has no <instapipe-stories> element with a src attribute, whose src the deployment points at the deployed stories.json: put the element back or change viewer_src_pattern in storage.tf."
    }
  }
}

resource "google_storage_bucket_object" "source" {
  # The content hash in the name makes every code change a new object, and so a new
  # build of every function; an unchanged tree redeploys nothing.
  name   = "functions-${data.archive_file.functions.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.functions.output_path
}

data "archive_file" "functions" {
  type        = "zip"
  source_dir  = "${path.module}/../functions"
  output_path = "${path.module}/build/functions.zip"
  excludes    = ["**/__pycache__/**", "**/*.pyc", ".mypy_cache/**", ".pytest_cache/**"]
}
