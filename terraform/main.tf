# Needs cloudresourcemanager.googleapis.com (in local.apis below). On a
# project where it is still off, depends_on defers the read until the APIs
# are on instead of failing the first plan.
data "google_project" "this" {
  project_id = var.project_id

  depends_on = [google_project_service.apis]
}

locals {
  image          = var.image != "" ? var.image : "${var.region}-docker.pkg.dev/${var.project_id}/${var.repository_id}/${var.service_name}:${var.image_tag}"
  results_bucket = var.results_bucket_name != "" ? var.results_bucket_name : "${var.project_id}-${var.service_name}-results"
  build_bucket   = "${var.project_id}-${var.service_name}-build"
  # Google's own Pub/Sub identity: it dead-letters messages and mints the
  # OIDC tokens of push deliveries.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    # data.google_project reads the project number through it.
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])

  # Sizing the sandbox from the instance (terraform/README.md, "Sizing"):
  # one slot per whole CPU, and the instance's memory less the server's
  # reserve split evenly between the slots, so that every slot running a
  # script at its maximum still fits: slots * MAX_MEMORY_MB + reserve <= memory
  # (the server checks the same rule at start-up and lowers a maximum that
  # does not fit).
  memory_parts = regex("^([0-9]+)(Mi|Gi|M|G)$", var.memory)
  memory_mib = floor(tonumber(local.memory_parts[0]) * lookup({
    Mi = 1
    Gi = 1024
    M  = 1000000 / 1048576
    G  = 1000000000 / 1048576
  }, local.memory_parts[1]))
  cpus          = endswith(var.cpu, "m") ? tonumber(trimsuffix(var.cpu, "m")) / 1000 : tonumber(var.cpu)
  sandbox_slots = max(1, floor(local.cpus))
  # On gen1 (gVisor: the chroot profile) no cgroup counts a job's /tmp
  # against its memory, so the server counts the /tmp (TMP_SIZE_MB, left
  # at its default of 64) beside it, and so must this.
  job_tmp_mb        = var.execution_environment == "EXECUTION_ENVIRONMENT_GEN1" ? 64 : 0
  max_job_memory_mb = floor((local.memory_mib - var.server_memory_reserve_mb) / local.sandbox_slots) - local.job_tmp_mb
  # The server's default per-script memory (512) must not exceed the maximum.
  default_job_memory_mb = min(512, local.max_job_memory_mb)

  # One Pub/Sub delivery, end to end: wait for a slot (a batch request
  # waits up to its own, longer BATCH_QUEUE_WAIT_MS rather than being
  # refused, since a refusal burns a delivery attempt), run for up to the
  # batch maximum, check for an existing result and write the result (each
  # store call bounded by the store timeout), plus a margin. The Cloud Run
  # request timeout must cover it, and the ack deadline the request timeout,
  # or Pub/Sub redelivers runs that are still going.
  batch_request_seconds   = var.batch_queue_wait_seconds + var.batch_max_timeout_seconds + 2 * var.results_store_timeout_seconds + var.request_timeout_margin_seconds
  request_timeout_seconds = coalesce(var.request_timeout_seconds, local.batch_request_seconds)
  ack_deadline_seconds    = coalesce(var.ack_deadline_seconds, min(600, local.request_timeout_seconds))

  # Pub/Sub pushes carry an OIDC token. On a private service Cloud Run checks
  # it (the push identity holds run.invoker), so the server must not ask
  # /pubsub for an API key; on a public one the server checks it itself:
  # Google's signature, this audience, the push service account's email.
  pubsub_auth   = var.allow_unauthenticated ? "oidc" : "platform"
  push_audience = "python-api-pubsub:${var.project_id}:${var.service_name}"

  # Every environment variable this module decides for the server. extra_env
  # cannot override them (precondition in run.tf); terraform/serverenv_test.go
  # checks this list against what the server's code reads.
  server_env = {
    RESULTS_BUCKET        = google_storage_bucket.results.name
    RESULTS_PREFIX        = var.results_prefix
    RESULTS_STORE_TIMEOUT = "${var.results_store_timeout_seconds}s"
    # auto: namespaces where the host allows them (gen2), chroot under
    # gVisor (gen1); /healthz reports which one was chosen.
    SANDBOX_MODE         = "auto"
    PUBSUB_AUTH          = local.pubsub_auth
    PUBSUB_OIDC_AUDIENCE = local.push_audience
    PUBSUB_OIDC_EMAIL    = google_service_account.pubsub_invoker.email
    BATCH_MAX_TIMEOUT_MS = tostring(var.batch_max_timeout_seconds * 1000)
    QUEUE_WAIT_MS        = tostring(var.queue_wait_seconds * 1000)
    BATCH_QUEUE_WAIT_MS  = tostring(var.batch_queue_wait_seconds * 1000)
    MAX_CONCURRENCY      = tostring(local.sandbox_slots)
    MAX_MEMORY_MB        = tostring(local.max_job_memory_mb)
    MEMORY_MB            = tostring(local.default_job_memory_mb)
    # Cloud Run does not set it; the server's logs use it for trace links.
    GOOGLE_CLOUD_PROJECT = var.project_id
  }
  # Names extra_env may not set: the module's own, the secret-backed
  # API_KEYS, the image's SANDBOX_ROOTFS and Cloud Run's reserved names.
  reserved_env = concat(keys(local.server_env), ["API_KEYS", "SANDBOX_ROOTFS", "PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"])

  # The Functions Framework takes the topic of a push delivery from the
  # request path (it looks for projects/PROJECT/topics/TOPIC in it) and
  # makes it the CloudEvent's source; without it, it warns on every push.
  push_path = "/pubsub/projects/${var.project_id}/topics/${google_pubsub_topic.scripts.name}"
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? local.apis : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
