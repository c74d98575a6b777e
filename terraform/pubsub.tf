resource "google_pubsub_topic" "scripts" {
  project = var.project_id
  name    = "${var.service_name}-scripts"

  depends_on = [google_project_service.apis]
}

# Messages that failed max_delivery_attempts times land here for inspection;
# nothing consumes it automatically.
resource "google_pubsub_topic" "dead_letter" {
  project = var.project_id
  name    = "${var.service_name}-scripts-dead-letter"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.service_name}-scripts-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

# A push subscription rather than an Eventarc trigger: it gives the ack
# deadline, the retry policy and the dead-letter policy directly (Eventarc
# creates its own subscription with a 10 s ack deadline that would have to be
# patched afterwards). The server's /pubsub path takes the push body as a
# CloudEvent; the endpoint carries the topic after it (local.push_path),
# where the Functions Framework looks for it.
resource "google_pubsub_subscription" "push" {
  project = var.project_id
  name    = "${var.service_name}-scripts-push"
  topic   = google_pubsub_topic.scripts.id

  ack_deadline_seconds       = local.ack_deadline_seconds
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.api.uri}${local.push_path}"

    oidc_token {
      service_account_email = google_service_account.pubsub_invoker.email
      audience              = local.push_audience
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  lifecycle {
    precondition {
      condition     = local.ack_deadline_seconds >= local.request_timeout_seconds
      error_message = "The push subscription's ack deadline (${local.ack_deadline_seconds} s) must be at least the Cloud Run request timeout (${local.request_timeout_seconds} s), or Pub/Sub redelivers batch runs that are still going. Pub/Sub allows at most 600 s: lower batch_max_timeout_seconds, batch_queue_wait_seconds or results_store_timeout_seconds."
    }
  }

  # Deliveries start as soon as the subscription exists: the push identity
  # must already be allowed to invoke the service, or the first ones get 403.
  depends_on = [
    google_cloud_run_v2_service_iam_member.pubsub_invoker,
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_service_account_iam_member.pubsub_token_creator,
  ]
}
