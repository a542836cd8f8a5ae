# Settings the functions read are named after their environment variable, in lower case
# (INSTAGRAM_USER_IDS -> instagram_user_ids). A null default leaves the variable unset, so
# the function uses the default documented in the README.

variable "google_cloud_project" {
  description = "Id of the GCP project to deploy into (GOOGLE_CLOUD_PROJECT)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.google_cloud_project))
    error_message = "google_cloud_project must be a project id such as my-stories-123, not a project name or number."
  }
}

variable "region" {
  description = "Region of the functions, buckets, scheduler job and build images."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a GCP region such as us-central1 or europe-west1."
  }
}

variable "firestore_location" {
  description = "Location of the Firestore database (a region or a multi-region such as eur3); null uses region. Cannot be changed once created."
  type        = string
  default     = null
}

variable "name_prefix" {
  description = "Prefix of every resource name (service accounts, functions, subscriptions, job)."
  type        = string
  default     = "instapipe"

  validation {
    # Service account ids allow 30 characters; the longest suffix is "-scheduler".
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3 to 20 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "instagram_user_ids" {
  description = "Numeric ids of the Instagram accounts to watch (INSTAGRAM_USER_IDS)."
  type        = list(string)

  validation {
    condition     = length(var.instagram_user_ids) > 0 && alltrue([for id in var.instagram_user_ids : can(regex("^[0-9]{1,20}$", id))])
    error_message = "instagram_user_ids must list at least one numeric account id such as \"1234567\" (not a username)."
  }
}

variable "instagram_source" {
  description = "Where stories come from (INSTAGRAM_SOURCE): \"private\" (session cookie in the INSTAGRAM_SESSIONID secret) or \"graph\" (token in the INSTAGRAM_ACCESS_TOKEN secret)."
  type        = string
  default     = "private"

  validation {
    condition     = contains(["private", "graph"], var.instagram_source)
    error_message = "instagram_source must be \"private\" or \"graph\"."
  }
}

variable "instagram_api_url" {
  description = "Base of Instagram's private API (INSTAGRAM_API_URL); null keeps https://i.instagram.com/api/v1."
  type        = string
  default     = null

  validation {
    condition     = var.instagram_api_url == null || can(regex("^https?://[^/]+", var.instagram_api_url))
    error_message = "instagram_api_url must be an http(s) URL such as https://i.instagram.com/api/v1."
  }
}

variable "instagram_graph_url" {
  description = "Base of the Graph API (INSTAGRAM_GRAPH_URL); use https://graph.instagram.com/v21.0 for an Instagram Login token. Null keeps the Facebook Login base."
  type        = string
  default     = null

  validation {
    condition     = var.instagram_graph_url == null || can(regex("^https?://[^/]+", var.instagram_graph_url))
    error_message = "instagram_graph_url must be an http(s) URL such as https://graph.instagram.com/v21.0."
  }
}

variable "instagram_timeout_s" {
  description = "Timeout of one Instagram request in seconds (INSTAGRAM_TIMEOUT_S); null keeps 10."
  type        = number
  default     = null

  validation {
    condition     = var.instagram_timeout_s == null || (try(var.instagram_timeout_s > 0 && var.instagram_timeout_s <= 300, false))
    error_message = "instagram_timeout_s must be more than 0 and at most 300 seconds."
  }
}

variable "instagram_batch_size" {
  description = "Accounts asked for in one private API request (INSTAGRAM_BATCH_SIZE); null keeps 50."
  type        = number
  default     = null

  validation {
    condition     = var.instagram_batch_size == null || (try(var.instagram_batch_size >= 1 && var.instagram_batch_size <= 100 && floor(var.instagram_batch_size) == var.instagram_batch_size, false))
    error_message = "instagram_batch_size must be a whole number from 1 to 100."
  }
}

variable "instagram_attempts" {
  description = "Tries of one Instagram request within a tick, on timeouts and 5xx answers (INSTAGRAM_ATTEMPTS); null keeps 3."
  type        = number
  default     = null

  validation {
    condition     = var.instagram_attempts == null || (try(var.instagram_attempts >= 1 && var.instagram_attempts <= 10 && floor(var.instagram_attempts) == var.instagram_attempts, false))
    error_message = "instagram_attempts must be a whole number from 1 to 10."
  }
}

variable "instagram_retry_base_s" {
  description = "Base of the random, doubling wait between tries of an Instagram request, in seconds (INSTAGRAM_RETRY_BASE_S); null keeps 1."
  type        = number
  default     = null

  validation {
    condition     = var.instagram_retry_base_s == null || (try(var.instagram_retry_base_s > 0 && var.instagram_retry_base_s <= 60, false))
    error_message = "instagram_retry_base_s must be more than 0 and at most 60 seconds."
  }
}

variable "instagram_rate_limit_backoff_s" {
  description = "How long an account is left alone after Instagram rate-limited it, in seconds (INSTAGRAM_RATE_LIMIT_BACKOFF_S); null keeps 3600."
  type        = number
  default     = null

  validation {
    condition     = var.instagram_rate_limit_backoff_s == null || (try(var.instagram_rate_limit_backoff_s >= 1 && var.instagram_rate_limit_backoff_s <= 604800 && floor(var.instagram_rate_limit_backoff_s) == var.instagram_rate_limit_backoff_s, false))
    error_message = "instagram_rate_limit_backoff_s must be whole seconds from 1 to 604800 (7 days)."
  }
}

variable "instagram_token_refresh" {
  description = "Renew the Graph API token before it expires (INSTAGRAM_TOKEN_REFRESH); null renews it for graph.instagram.com tokens only."
  type        = bool
  default     = null
}

variable "telegram_chat_id" {
  description = "Telegram group or channel to post into (TELEGRAM_CHAT_ID), such as -1001234567890 or @channel. Null turns Telegram delivery off; set, it also creates the TELEGRAM_BOT_TOKEN secret."
  type        = string
  default     = null

  validation {
    condition     = var.telegram_chat_id == null || can(regex("^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$", var.telegram_chat_id))
    error_message = "telegram_chat_id must be a numeric chat id such as -1001234567890 or a channel name such as @mychannel."
  }
}

variable "telegram_timezone" {
  description = "IANA time zone of caption times and quiet hours (TELEGRAM_TIMEZONE), such as Europe/Berlin; null keeps UTC."
  type        = string
  default     = null
}

variable "telegram_quiet_hours" {
  description = "Local hours START-END in which posts go out without sound (TELEGRAM_QUIET_HOURS), such as 22-7; null means never silent."
  type        = string
  default     = null

  validation {
    condition     = var.telegram_quiet_hours == null || can(regex("^([01]?[0-9]|2[0-3])-([01]?[0-9]|2[0-3])$", var.telegram_quiet_hours))
    error_message = "telegram_quiet_hours must be two hours 0-23 as START-END, such as 22-7."
  }
}

variable "telegram_link_instagram" {
  description = "Add a link to the story on Instagram to each caption (TELEGRAM_LINK_INSTAGRAM); null keeps false."
  type        = bool
  default     = null
}

variable "telegram_timeout_s" {
  description = "Timeout of one Bot API request in seconds, uploads included (TELEGRAM_TIMEOUT_S); null keeps 60."
  type        = number
  default     = null

  validation {
    # The limit config.py sets; post_to_telegram's timeout must also fit twice this
    # plus media_timeout_s, which a precondition in functions.tf checks.
    condition     = var.telegram_timeout_s == null || (try(var.telegram_timeout_s > 0 && var.telegram_timeout_s <= 540, false))
    error_message = "telegram_timeout_s must be more than 0 and at most 540 seconds."
  }
}

variable "telegram_api_url" {
  description = "Base of the Telegram Bot API (TELEGRAM_API_URL), for a self-hosted Bot API server; null keeps https://api.telegram.org."
  type        = string
  default     = null

  validation {
    condition     = var.telegram_api_url == null || can(regex("^https?://[^/]+", var.telegram_api_url))
    error_message = "telegram_api_url must be an http(s) URL such as https://api.telegram.org."
  }
}

variable "telegram_max_per_minute" {
  description = "Messages a minute the chat's shared budget allows, alerts included (TELEGRAM_MAX_PER_MINUTE); null keeps 20, Telegram's limit for a group."
  type        = number
  default     = null

  validation {
    condition     = var.telegram_max_per_minute == null || (try(var.telegram_max_per_minute >= 1 && var.telegram_max_per_minute <= 1000 && floor(var.telegram_max_per_minute) == var.telegram_max_per_minute, false))
    error_message = "telegram_max_per_minute must be a whole number from 1 to 1000."
  }
}

variable "stories_topic" {
  description = "Id of the Pub/Sub topic new stories are published to (STORIES_TOPIC)."
  type        = string
  default     = "instapipe-stories"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.stories_topic)) && !startswith(lower(var.stories_topic), "goog")
    error_message = "stories_topic must start with a letter, be 3 to 255 letters, digits or - _ . ~ + %, and not start with goog."
  }
}

variable "media_bucket" {
  description = "Name of the private bucket for archived media (MEDIA_BUCKET); null uses <project>-<name_prefix>-media. Bucket names are global."
  type        = string
  default     = null

  validation {
    condition     = var.media_bucket == null || can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.media_bucket))
    error_message = "media_bucket must be a Cloud Storage bucket name: 3 to 63 lower-case letters, digits, - _ or ."
  }
}

variable "media_max_bytes" {
  description = "Largest media file archived, in bytes (MEDIA_MAX_BYTES); null keeps 512 MiB."
  type        = number
  default     = null

  validation {
    condition     = var.media_max_bytes == null || (try(var.media_max_bytes > 0 && var.media_max_bytes <= 5368709120 && floor(var.media_max_bytes) == var.media_max_bytes, false))
    error_message = "media_max_bytes must be a whole number of bytes above 0 and at most 5 GiB."
  }
}

variable "media_timeout_s" {
  description = "Connect and read timeout of a media download in seconds (MEDIA_TIMEOUT_S); null keeps 30."
  type        = number
  default     = null

  validation {
    # The limit config.py sets; the consumers' timeouts must also fit the downloads,
    # which a precondition in functions.tf checks.
    condition     = var.media_timeout_s == null || (try(var.media_timeout_s > 0 && var.media_timeout_s <= 540, false))
    error_message = "media_timeout_s must be more than 0 and at most 540 seconds."
  }
}

variable "media_attempts" {
  description = "Tries of one media download by the archive, on timeouts, 429 and 5xx answers (MEDIA_ATTEMPTS); null keeps 3."
  type        = number
  default     = null

  validation {
    condition     = var.media_attempts == null || (try(var.media_attempts >= 1 && var.media_attempts <= 10 && floor(var.media_attempts) == var.media_attempts, false))
    error_message = "media_attempts must be a whole number from 1 to 10."
  }
}

variable "media_backoff_s" {
  description = "First wait between tries of a media download in seconds, doubled after each (MEDIA_BACKOFF_S); null keeps 2."
  type        = number
  default     = null

  validation {
    condition     = var.media_backoff_s == null || (try(var.media_backoff_s > 0 && var.media_backoff_s <= 60, false))
    error_message = "media_backoff_s must be more than 0 and at most 60 seconds."
  }
}

variable "signed_url_ttl_s" {
  description = "Lifetime of signed media URLs in seconds (SIGNED_URL_TTL_S); null keeps 86400."
  type        = number
  default     = null

  validation {
    condition     = var.signed_url_ttl_s == null || (try(var.signed_url_ttl_s > 0 && var.signed_url_ttl_s <= 604800 && floor(var.signed_url_ttl_s) == var.signed_url_ttl_s, false))
    error_message = "signed_url_ttl_s must be whole seconds above 0 and at most 604800 (7 days, the V4 signed URL limit)."
  }
}

variable "api_cache_s" {
  description = "How long an API instance keeps a stories.json answer in memory, in seconds (API_CACHE_S); null keeps 30."
  type        = number
  default     = null

  validation {
    condition     = var.api_cache_s == null || (try(var.api_cache_s > 0 && var.api_cache_s <= 3600, false))
    error_message = "api_cache_s must be more than 0 and at most 3600 seconds."
  }
}

variable "api_count_opens" {
  description = "Count viewer opens per day, without cookies or personal data (API_COUNT_OPENS); null keeps false."
  type        = bool
  default     = null
}

variable "media_public" {
  description = "Let anyone read archived media at its plain storage.googleapis.com address. Off by default: the media is reached only through signed URLs."
  type        = bool
  default     = false
}

variable "media_protection" {
  description = "How archived media is protected against deletion: \"versioning\" (deleted or replaced files stay recoverable for 90 days), \"retention\" (no file can be deleted before media_retention_days) or \"none\"."
  type        = string
  default     = "versioning"

  validation {
    # Cloud Storage does not allow Object Versioning and a retention policy on one bucket.
    condition     = contains(["versioning", "retention", "none"], var.media_protection)
    error_message = "media_protection must be \"versioning\", \"retention\" or \"none\"."
  }
}

variable "media_retention_days" {
  description = "With media_protection = \"retention\": days every archived file is kept before it may be deleted."
  type        = number
  default     = 3650

  validation {
    condition     = var.media_retention_days >= 1 && var.media_retention_days <= 36500 && floor(var.media_retention_days) == var.media_retention_days
    error_message = "media_retention_days must be a whole number of days from 1 to 36500."
  }
}

variable "viewer_bucket" {
  description = "Name of the public bucket serving the viewer; null uses <project>-<name_prefix>-viewer. Bucket names are global."
  type        = string
  default     = null

  validation {
    condition     = var.viewer_bucket == null || can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.viewer_bucket))
    error_message = "viewer_bucket must be a Cloud Storage bucket name: 3 to 63 lower-case letters, digits, - _ or ."
  }
}

variable "fetch_schedule" {
  description = "Cron schedule of the fetch tick (Cloud Scheduler syntax). Every tick costs one Instagram request per batch of accounts."
  type        = string
  default     = "*/5 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.fetch_schedule))) == 5
    error_message = "fetch_schedule must be a five-field cron expression such as */5 * * * *."
  }
}

variable "fetch_schedule_time_zone" {
  description = "IANA time zone the fetch_schedule is read in."
  type        = string
  default     = "Etc/UTC"
}

variable "max_delivery_attempts" {
  description = "Deliveries of one story to a consumer before it is moved to the dead-letter topic."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100 && floor(var.max_delivery_attempts) == var.max_delivery_attempts
    error_message = "max_delivery_attempts must be a whole number from 5 to 100 (Pub/Sub's limits)."
  }
}
