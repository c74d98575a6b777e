# The service's own identity. Its only grants are the two bucket roles below
# (and, when API keys are used, read access to that one secret): nothing at
# project level, so a sandbox escape that reached the metadata server would
# get a token that can only write and read results.
resource "google_service_account" "service" {
  project      = var.project_id
  account_id   = "${var.service_name}-run"
  display_name = "${var.service_name} Cloud Run service"
}

# Identity whose OIDC token Pub/Sub attaches to push deliveries.
resource "google_service_account" "pubsub_invoker" {
  project      = var.project_id
  account_id   = "${var.service_name}-push"
  display_name = "${var.service_name} Pub/Sub push invoker"
}

resource "google_storage_bucket_iam_member" "service_object_creator" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.service.member
}

# Viewer lets the server check for an existing result (duplicate deliveries)
# and lets objectCreator's precondition-protected writes report 412.
resource "google_storage_bucket_iam_member" "service_object_viewer" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.service.member
}

resource "google_secret_manager_secret_iam_member" "service_api_keys" {
  count = var.api_keys_secret != "" ? 1 : 0

  project   = var.project_id
  secret_id = var.api_keys_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.service.member
}

resource "google_cloud_run_v2_service_iam_member" "pubsub_invoker" {
  project  = var.project_id
  location = google_cloud_run_v2_service.api.location
  name     = google_cloud_run_v2_service.api.name
  role     = "roles/run.invoker"
  member   = google_service_account.pubsub_invoker.member
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  count = var.allow_unauthenticated ? 1 : 0

  project  = var.project_id
  location = google_cloud_run_v2_service.api.location
  name     = google_cloud_run_v2_service.api.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Pub/Sub's service agent moves undeliverable messages to the dead-letter
# topic: it must publish there and acknowledge them on the source.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Projects created before April 2021 need the service agent to be able to
# mint tokens for the push identity; granted on that one account only.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.pubsub_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}
