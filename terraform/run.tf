resource "google_cloud_run_v2_service" "api" {
  project             = var.project_id
  name                = var.service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.service.email
    execution_environment            = var.execution_environment
    max_instance_request_concurrency = var.max_instance_request_concurrency
    timeout                          = "${var.request_timeout_seconds}s"

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    containers {
      image = local.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        # CPU stays allocated between requests so the sandbox can refill its
        # warm pool after each execution instead of during the next one.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      env {
        name  = "RESULTS_BUCKET"
        value = google_storage_bucket.results.name
      }
      env {
        name  = "RESULTS_PREFIX"
        value = var.results_prefix
      }
      # auto: namespaces where the host allows them (gen2), chroot under
      # gVisor (gen1); /healthz reports which one was chosen.
      env {
        name  = "SANDBOX_MODE"
        value = "auto"
      }

      dynamic "env" {
        for_each = var.api_keys_secret != "" ? [var.api_keys_secret] : []
        content {
          name = "API_KEYS"
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      dynamic "env" {
        for_each = var.extra_env
        content {
          name  = env.key
          value = env.value
        }
      }

      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = 2
        timeout_seconds       = 2
        failure_threshold     = 30
        http_get {
          path = "/healthz"
          port = 8080
        }
      }

      liveness_probe {
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
        http_get {
          path = "/healthz"
          port = 8080
        }
      }
    }
  }

  lifecycle {
    # Cloud Build deploys new images with `gcloud run deploy --image`;
    # terraform owns everything else about the service.
    ignore_changes = [
      template[0].containers[0].image,
      client,
      client_version,
    ]

    precondition {
      condition     = var.request_timeout_seconds >= var.batch_max_timeout_seconds
      error_message = "request_timeout_seconds must cover batch_max_timeout_seconds: a Pub/Sub delivery is a request to this service."
    }
  }

  depends_on = [
    google_project_service.apis,
    google_storage_bucket_iam_member.service_object_creator,
    google_storage_bucket_iam_member.service_object_viewer,
    google_secret_manager_secret_iam_member.service_api_keys,
  ]
}
