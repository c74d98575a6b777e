resource "google_cloud_run_v2_service" "api" {
  project             = var.project_id
  name                = var.service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection
  # Push tokens name this audience rather than the service URL (which the
  # server's own environment cannot refer to): Cloud Run accepts it for a
  # private service, and the server checks it for a public one.
  custom_audiences = [local.push_audience]

  template {
    service_account                  = google_service_account.service.email
    execution_environment            = var.execution_environment
    max_instance_request_concurrency = var.max_instance_request_concurrency
    timeout                          = "${local.request_timeout_seconds}s"

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

      # The module's own settings (local.server_env in main.tf), then the
      # caller's extra_env, which may not repeat any of them.
      dynamic "env" {
        for_each = merge(var.extra_env, local.server_env)
        content {
          name  = env.key
          value = env.value
        }
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
      condition     = local.request_timeout_seconds >= local.batch_request_seconds
      error_message = "request_timeout_seconds (${local.request_timeout_seconds}) must cover one Pub/Sub delivery: batch_queue_wait_seconds + batch_max_timeout_seconds + 2 * results_store_timeout_seconds + request_timeout_margin_seconds = ${local.batch_request_seconds} s. Leave it null to derive it."
    }

    precondition {
      condition     = length(setintersection(keys(var.extra_env), local.reserved_env)) == 0
      error_message = "extra_env must not set ${join(", ", sort(setintersection(keys(var.extra_env), local.reserved_env)))}: this module sets them from its own variables (or the image / Cloud Run does). Use the matching variable instead."
    }

    # The server's floor for one script (sandboxcore.MinMemoryMB): the
    # interpreter with numpy and pandas loaded.
    precondition {
      condition     = local.max_job_memory_mb >= 256
      error_message = "memory ${var.memory} leaves ${local.max_job_memory_mb} MB per script for ${local.sandbox_slots} slot(s) after the server's ${var.server_memory_reserve_mb} MB: each needs at least 256 MB. Raise memory or lower cpu."
    }

    # The server refuses to start when its interactive maximum exceeds the
    # batch maximum (BATCH_MAX_TIMEOUT_MS >= MAX_TIMEOUT_MS).
    precondition {
      condition     = try(tonumber(lookup(var.extra_env, "MAX_TIMEOUT_MS", "60000")) <= var.batch_max_timeout_seconds * 1000, false)
      error_message = "extra_env MAX_TIMEOUT_MS must be a number of milliseconds no larger than batch_max_timeout_seconds * 1000; the server refuses to start otherwise."
    }
  }

  depends_on = [
    google_project_service.apis,
    google_storage_bucket_iam_member.service_object_creator,
    google_storage_bucket_iam_member.service_object_viewer,
    google_secret_manager_secret_iam_member.service_api_keys,
  ]
}
