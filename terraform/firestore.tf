# The Firestore database the functions share, and the composite indexes their queries
# need.

locals {
  # The client libraries use the "(default)" database; it is also the one the free tier
  # applies to.
  firestore_database = "(default)"

  # Composite indexes, keyed by a name of your choice. The stories.json query (one
  # account's stories subcollection, a range on timestamp ordered by timestamp) is
  # served by Firestore's automatic single-field indexes; a query that filters or orders
  # on two fields needs an entry here, as in:
  #   stories_by_expiry = {
  #     collection = "stories"
  #     fields     = [["expires_at", "ASCENDING"], ["timestamp", "ASCENDING"]]
  #   }
  firestore_indexes = {}
}

resource "google_firestore_database" "this" {
  name        = local.firestore_database
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"
  # Point-in-time recovery keeps 7 days of versions of the archive's metadata.
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # terraform destroy leaves the archive's metadata; docs/deploy.md says how to delete it.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.enabled]
}

resource "google_firestore_index" "composite" {
  for_each = local.firestore_indexes

  database    = google_firestore_database.this.name
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}
