# The Cloud Run service as planned with the real google provider's schema
# (infra/setup/test-terraform.sh) and a mocked API: environment, timeouts,
# sizing, and what the module refuses. Run: make test-terraform.

mock_provider "google" {
  # Computed values (the service URL, the project number) are needed while
  # planning, not only after apply.
  override_during = plan

  mock_resource "google_cloud_run_v2_service" {
    defaults = {
      uri = "https://python-api-abc-uc.a.run.app"
    }
  }

  mock_data "google_project" {
    defaults = {
      number = "123456789"
    }
  }
}

# Distinct, realistic identities and topic ids while planning, so that the
# checks below can tell the service's account from the push identity.
override_resource {
  target          = google_service_account.service
  override_during = plan
  values = {
    email  = "python-api-run@my-project.iam.gserviceaccount.com"
    member = "serviceAccount:python-api-run@my-project.iam.gserviceaccount.com"
    name   = "projects/my-project/serviceAccounts/python-api-run@my-project.iam.gserviceaccount.com"
  }
}

override_resource {
  target          = google_service_account.pubsub_invoker
  override_during = plan
  values = {
    email  = "python-api-push@my-project.iam.gserviceaccount.com"
    member = "serviceAccount:python-api-push@my-project.iam.gserviceaccount.com"
    name   = "projects/my-project/serviceAccounts/python-api-push@my-project.iam.gserviceaccount.com"
  }
}

override_resource {
  target          = google_pubsub_topic.scripts
  override_during = plan
  values = {
    id = "projects/my-project/topics/python-api-scripts"
  }
}

override_resource {
  target          = google_pubsub_topic.dead_letter
  override_during = plan
  values = {
    id = "projects/my-project/topics/python-api-scripts-dead-letter"
  }
}

variables {
  project_id = "my-project"
}

run "defaults" {
  command = plan

  # Environment: everything the server needs from the deployment.
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["RESULTS_BUCKET"] == google_storage_bucket.results.name
    error_message = "RESULTS_BUCKET is not the results bucket's name."
  }
  assert {
    condition     = google_storage_bucket.results.name == "my-project-python-api-results"
    error_message = "results bucket name is not PROJECT-SERVICE-results."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["RESULTS_PREFIX"] == "results/"
    error_message = "RESULTS_PREFIX is not var.results_prefix."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["SANDBOX_MODE"] == "auto"
    error_message = "SANDBOX_MODE must be auto so that one image serves gen1 and gen2."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["GOOGLE_CLOUD_PROJECT"] == "my-project"
    error_message = "GOOGLE_CLOUD_PROJECT (trace links in logs; Cloud Run does not set it) is not the project."
  }
  # Defect 1: a private service gets PUBSUB_AUTH=platform, or every push is
  # asked for an API key once API keys are configured.
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["PUBSUB_AUTH"] == "platform"
    error_message = "a private service must leave /pubsub to Cloud Run IAM: PUBSUB_AUTH=platform."
  }
  assert {
    condition     = !contains([for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name], "API_KEYS")
    error_message = "API_KEYS set although api_keys_secret is empty."
  }
  assert {
    condition     = length(google_cloud_run_v2_service_iam_member.public) == 0
    error_message = "the service is public by default."
  }
  # Defect 2: the batch maximum reaches the server.
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["BATCH_MAX_TIMEOUT_MS"] == "300000"
    error_message = "BATCH_MAX_TIMEOUT_MS is not batch_max_timeout_seconds in milliseconds."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["QUEUE_WAIT_MS"] == "30000"
    error_message = "QUEUE_WAIT_MS is not queue_wait_seconds in milliseconds."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["RESULTS_STORE_TIMEOUT"] == "10s"
    error_message = "RESULTS_STORE_TIMEOUT is not results_store_timeout_seconds."
  }
  assert {
    condition     = length(google_cloud_run_v2_service.api.template[0].containers[0].env) == length(distinct([for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name]))
    error_message = "an environment variable is set twice."
  }

  # Defect 3: the request timeout covers one whole delivery, the ack
  # deadline the request timeout.
  assert {
    condition     = google_cloud_run_v2_service.api.template[0].timeout == "570s"
    error_message = "request timeout is not 240 (batch queue wait) + 300 (batch) + 2 * 10 (store) + 10 (margin) = 570 s."
  }
  assert {
    condition     = google_pubsub_subscription.push.ack_deadline_seconds == 570
    error_message = "ack deadline is not the request timeout."
  }
  assert {
    condition     = google_pubsub_subscription.push.ack_deadline_seconds >= tonumber(trimsuffix(google_cloud_run_v2_service.api.template[0].timeout, "s")) && google_pubsub_subscription.push.ack_deadline_seconds <= 600
    error_message = "ack deadline must cover the request timeout and stay within Pub/Sub's 600 s."
  }
  assert {
    condition = tonumber(trimsuffix(google_cloud_run_v2_service.api.template[0].timeout, "s")) >= (
      tonumber({ for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["BATCH_QUEUE_WAIT_MS"]) / 1000 +
      tonumber({ for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["BATCH_MAX_TIMEOUT_MS"]) / 1000 +
      2 * tonumber(trimsuffix({ for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["RESULTS_STORE_TIMEOUT"], "s"))
    )
    error_message = "the request timeout does not cover what the server's own settings allow one delivery to take."
  }
  assert {
    condition     = output.request_timeout_seconds == 570 && output.ack_deadline_seconds == 570
    error_message = "timeout outputs disagree with the resources."
  }

  # Defect 4: 2 CPUs and 2Gi: 2 slots of (2048 - 512) / 2 = 768 MB.
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["MAX_CONCURRENCY"] == "2"
    error_message = "MAX_CONCURRENCY is not the instance's CPU count."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["MAX_MEMORY_MB"] == "768"
    error_message = "MAX_MEMORY_MB is not (2048 MiB - 512 MiB reserve) / 2 slots."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["MEMORY_MB"] == "512"
    error_message = "MEMORY_MB (the default per script) is not 512 when the maximum allows it."
  }
  assert {
    condition = (
      tonumber({ for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["MAX_CONCURRENCY"]) *
      tonumber({ for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["MAX_MEMORY_MB"]) + 512
    ) <= 2048
    error_message = "slots x per-script maximum + the server's reserve does not fit the instance's 2Gi."
  }

  # Defect 8: the push endpoint carries the topic where the Functions
  # Framework looks for it.
  assert {
    condition     = google_pubsub_subscription.push.push_config[0].push_endpoint == "https://python-api-abc-uc.a.run.app/pubsub/projects/my-project/topics/python-api-scripts"
    error_message = "push endpoint is not SERVICE_URL/pubsub/projects/PROJECT/topics/TOPIC."
  }
  assert {
    condition     = can(regex("projects/[^/?]+/topics/${google_pubsub_topic.scripts.name}$", google_pubsub_subscription.push.push_config[0].push_endpoint))
    error_message = "the Functions Framework's topic pattern (projects/P/topics/T) does not find the scripts topic in the push endpoint."
  }
  assert {
    condition     = google_pubsub_subscription.push.push_config[0].oidc_token[0].service_account_email == google_service_account.pubsub_invoker.email
    error_message = "pushes do not carry the push identity's OIDC token."
  }
  assert {
    condition     = contains(google_cloud_run_v2_service.api.custom_audiences, google_pubsub_subscription.push.push_config[0].oidc_token[0].audience)
    error_message = "Cloud Run would refuse the push token: its audience is not one of the service's custom audiences."
  }
  assert {
    condition     = google_pubsub_subscription.push.topic == google_pubsub_topic.scripts.id
    error_message = "the push subscription does not subscribe to the scripts topic."
  }
  assert {
    condition     = google_cloud_run_v2_service_iam_member.pubsub_invoker.role == "roles/run.invoker" && google_cloud_run_v2_service_iam_member.pubsub_invoker.member == google_service_account.pubsub_invoker.member && google_cloud_run_v2_service_iam_member.pubsub_invoker.name == google_cloud_run_v2_service.api.name
    error_message = "the push identity cannot invoke the service."
  }

  # Retries and dead letters.
  assert {
    condition     = google_pubsub_subscription.push.dead_letter_policy[0].dead_letter_topic == google_pubsub_topic.dead_letter.id && google_pubsub_subscription.push.dead_letter_policy[0].max_delivery_attempts == 5
    error_message = "dead-letter policy is not 5 attempts to the dead-letter topic."
  }
  assert {
    condition     = google_pubsub_subscription.dead_letter.topic == google_pubsub_topic.dead_letter.id
    error_message = "nothing subscribes to the dead-letter topic."
  }
  assert {
    condition     = google_pubsub_subscription.push.retry_policy[0].minimum_backoff == "10s" && google_pubsub_subscription.push.retry_policy[0].maximum_backoff == "600s"
    error_message = "retry policy is not exponential backoff 10 s to 600 s."
  }

  # The service itself.
  assert {
    condition     = google_cloud_run_v2_service.api.template[0].service_account == google_service_account.service.email
    error_message = "the service does not run as its own account."
  }
  assert {
    condition     = google_cloud_run_v2_service.api.template[0].execution_environment == "EXECUTION_ENVIRONMENT_GEN2"
    error_message = "gen2 is not the default."
  }
  assert {
    condition     = google_cloud_run_v2_service.api.template[0].containers[0].resources[0].cpu_idle == false
    error_message = "cpu_idle must be false (the warm pool refills between requests)."
  }
  assert {
    condition     = google_cloud_run_v2_service.api.template[0].containers[0].startup_probe[0].http_get[0].path == "/healthz" && google_cloud_run_v2_service.api.template[0].containers[0].liveness_probe[0].http_get[0].path == "/healthz"
    error_message = "probes must GET /healthz."
  }

  # The results bucket.
  assert {
    condition     = google_storage_bucket.results.uniform_bucket_level_access == true && google_storage_bucket.results.public_access_prevention == "enforced"
    error_message = "the results bucket must have uniform access and enforced public access prevention."
  }
  assert {
    condition     = anytrue([for r in google_storage_bucket.results.lifecycle_rule : anytrue([for a in r.action : a.type == "Delete"]) && anytrue([for c in r.condition : c.age == 30])])
    error_message = "results are not deleted after results_retention_days."
  }

  # Defect 7: the project number is read through Cloud Resource Manager.
  assert {
    condition     = contains(keys(google_project_service.apis), "cloudresourcemanager.googleapis.com")
    error_message = "cloudresourcemanager.googleapis.com is not enabled (data.google_project needs it)."
  }
}

# The project number comes from data.google_project, which waits for the
# APIs while they are being enabled; with them already on it is read at plan.
run "pubsub_service_agent" {
  command = plan

  variables {
    enable_apis = false
  }

  assert {
    condition     = google_pubsub_topic_iam_member.dead_letter_publisher.member == "serviceAccount:service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com" && google_pubsub_topic_iam_member.dead_letter_publisher.role == "roles/pubsub.publisher" && google_pubsub_topic_iam_member.dead_letter_publisher.topic == google_pubsub_topic.dead_letter.name
    error_message = "the Pub/Sub service agent cannot publish to the dead-letter topic."
  }
  assert {
    condition     = google_pubsub_subscription_iam_member.dead_letter_subscriber.member == "serviceAccount:service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com" && google_pubsub_subscription_iam_member.dead_letter_subscriber.role == "roles/pubsub.subscriber" && google_pubsub_subscription_iam_member.dead_letter_subscriber.subscription == google_pubsub_subscription.push.name
    error_message = "the Pub/Sub service agent cannot acknowledge dead-lettered messages on the push subscription."
  }
  assert {
    condition     = google_service_account_iam_member.pubsub_token_creator.member == "serviceAccount:service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com" && google_service_account_iam_member.pubsub_token_creator.service_account_id == google_service_account.pubsub_invoker.name
    error_message = "the Pub/Sub service agent cannot mint the push identity's tokens."
  }
}

run "api_keys_on_a_private_service" {
  command = plan

  variables {
    api_keys_secret = "python-api-keys"
  }

  assert {
    condition     = one([for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.value_source[0].secret_key_ref[0].secret if e.name == "API_KEYS"]) == "python-api-keys"
    error_message = "API_KEYS does not come from the secret."
  }
  # Defect 1 itself: API keys on /execute, and pushes still get through.
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["PUBSUB_AUTH"] == "platform"
    error_message = "with API keys, PUBSUB_AUTH must be platform or every push gets 401."
  }
  assert {
    condition     = google_secret_manager_secret_iam_member.service_api_keys[0].member == google_service_account.service.member && google_secret_manager_secret_iam_member.service_api_keys[0].role == "roles/secretmanager.secretAccessor"
    error_message = "the service cannot read its API keys."
  }
}

run "public_without_api_keys" {
  command = plan

  variables {
    allow_unauthenticated = true
  }

  assert {
    condition     = google_cloud_run_v2_service_iam_member.public[0].member == "allUsers" && google_cloud_run_v2_service_iam_member.public[0].role == "roles/run.invoker"
    error_message = "allow_unauthenticated does not grant run.invoker to allUsers."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["PUBSUB_AUTH"] == "oidc"
    error_message = "a public service must check the push token itself."
  }
}

# Defect 1: public with API keys works: the server checks the push's OIDC
# token (audience and account as the subscription sends them).
run "public_with_api_keys_checks_push_tokens" {
  command = plan

  variables {
    allow_unauthenticated = true
    api_keys_secret       = "python-api-keys"
  }

  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["PUBSUB_AUTH"] == "oidc"
    error_message = "a public service with API keys must check the push token itself (PUBSUB_AUTH=oidc)."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["PUBSUB_OIDC_AUDIENCE"] == google_pubsub_subscription.push.push_config[0].oidc_token[0].audience
    error_message = "the server expects another audience than the push subscription sends."
  }
}

run "extra_env_adds_tunables" {
  command = plan

  variables {
    extra_env = {
      SANDBOX_EXECUTOR = "warm"
      MAX_TIMEOUT_MS   = "120000"
    }
  }

  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["SANDBOX_EXECUTOR"] == "warm"
    error_message = "extra_env does not reach the container."
  }
}

# Defect 2: extra_env cannot override what the module manages.
run "extra_env_cannot_override_pubsub_auth" {
  command = plan

  variables {
    api_keys_secret = "python-api-keys"
    extra_env = {
      PUBSUB_AUTH = "api_key"
    }
  }

  expect_failures = [google_cloud_run_v2_service.api]
}

run "extra_env_cannot_override_batch_max" {
  command = plan

  variables {
    extra_env = {
      BATCH_MAX_TIMEOUT_MS = "3600000"
    }
  }

  expect_failures = [google_cloud_run_v2_service.api]
}

run "extra_env_cannot_override_sizing" {
  command = plan

  variables {
    extra_env = {
      MAX_MEMORY_MB = "4096"
    }
  }

  expect_failures = [google_cloud_run_v2_service.api]
}

run "extra_env_cannot_set_secrets_or_reserved_names" {
  command = plan

  variables {
    extra_env = {
      API_KEYS = "plain-text-key"
      PORT     = "9090"
    }
  }

  expect_failures = [google_cloud_run_v2_service.api]
}

run "extra_env_max_timeout_above_batch_max_is_refused" {
  command = plan

  variables {
    extra_env = {
      MAX_TIMEOUT_MS = "400000"
    }
  }

  expect_failures = [google_cloud_run_v2_service.api]
}

# Defect 3: the timeouts follow the batch maximum.
run "timeouts_follow_the_batch_maximum" {
  command = plan

  variables {
    batch_max_timeout_seconds     = 500
    batch_queue_wait_seconds      = 20
    results_store_timeout_seconds = 5
  }

  assert {
    condition     = google_cloud_run_v2_service.api.template[0].timeout == "540s"
    error_message = "request timeout is not 20 + 500 + 2 * 5 + 10 = 540 s."
  }
  assert {
    condition     = google_pubsub_subscription.push.ack_deadline_seconds == 540
    error_message = "ack deadline does not follow the request timeout."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["BATCH_QUEUE_WAIT_MS"] == "20000" && { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["RESULTS_STORE_TIMEOUT"] == "5s"
    error_message = "the server does not get the queue wait and store timeout the request timeout was derived from."
  }
}

run "batch_maximum_beyond_what_pubsub_can_wait_is_refused" {
  command = plan

  variables {
    # 30 + 560 + 20 + 10 = 620 s > Pub/Sub's 600 s ack deadline limit.
    batch_max_timeout_seconds = 560
  }

  expect_failures = [google_pubsub_subscription.push]
}

run "request_timeout_shorter_than_a_delivery_is_refused" {
  command = plan

  variables {
    request_timeout_seconds = 330
  }

  expect_failures = [google_cloud_run_v2_service.api]
}

run "ack_deadline_shorter_than_the_request_timeout_is_refused" {
  command = plan

  variables {
    ack_deadline_seconds = 300
  }

  expect_failures = [google_pubsub_subscription.push]
}

run "batch_maximum_below_the_interactive_maximum_is_refused" {
  command = plan

  variables {
    batch_max_timeout_seconds = 30
  }

  expect_failures = [var.batch_max_timeout_seconds]
}

# Defect 4: sizing from the instance.
run "sizing_4_cpus_8gi" {
  command = plan

  variables {
    cpu    = "4"
    memory = "8Gi"
  }

  assert {
    condition     = output.sandbox_sizing.max_concurrency == 4 && output.sandbox_sizing.max_memory_mb == 1920 && output.sandbox_sizing.memory_mb == 512
    error_message = "4 CPUs and 8Gi must give 4 slots of (8192 - 512) / 4 = 1920 MB."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["MAX_MEMORY_MB"] == "1920" && { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["MAX_CONCURRENCY"] == "4"
    error_message = "the container does not get the sizing."
  }
}

run "sizing_gen1_counts_the_tmp" {
  command = plan

  variables {
    cpu                   = "4"
    memory                = "8Gi"
    execution_environment = "EXECUTION_ENVIRONMENT_GEN1"
  }

  assert {
    condition     = output.sandbox_sizing.max_memory_mb == 1856
    error_message = "gen1 (chroot profile) must count each slot's 64 MB /tmp: (8192 - 512) / 4 - 64 = 1856 MB, as the server does."
  }
}

run "sizing_4_cpus_2gi" {
  command = plan

  variables {
    cpu    = "4"
    memory = "2Gi"
  }

  assert {
    condition     = output.sandbox_sizing.max_concurrency == 4 && output.sandbox_sizing.max_memory_mb == 384 && output.sandbox_sizing.memory_mb == 384
    error_message = "4 CPUs and 2Gi must give 4 slots of 384 MB, and a default per script no larger than that."
  }
  assert {
    condition     = { for e in google_cloud_run_v2_service.api.template[0].containers[0].env : e.name => e.value }["MEMORY_MB"] == "384"
    error_message = "MEMORY_MB above MAX_MEMORY_MB: the server would refuse to start."
  }
}

run "sizing_millicores_and_decimal_units" {
  command = plan

  variables {
    cpu    = "2000m"
    memory = "4G"
  }

  assert {
    # 4G = 4e9 bytes = 3814 MiB; (3814 - 512) / 2 = 1651.
    condition     = output.sandbox_sizing.max_concurrency == 2 && output.sandbox_sizing.instance_mib == 3814 && output.sandbox_sizing.max_memory_mb == 1651
    error_message = "2000m and 4G are not read as 2 CPUs and 3814 MiB."
  }
}

run "fractional_cpu_keeps_one_slot" {
  command = plan

  variables {
    cpu    = "0.5"
    memory = "1Gi"
  }

  assert {
    condition     = output.sandbox_sizing.max_concurrency == 1 && output.sandbox_sizing.max_memory_mb == 512
    error_message = "half a CPU must still give one slot."
  }
}

run "instance_too_small_for_its_slots_is_refused" {
  command = plan

  variables {
    # (2048 - 512) / 8 = 192 MB per slot, under the server's 256.
    cpu    = "8"
    memory = "2Gi"
  }

  expect_failures = [google_cloud_run_v2_service.api]
}

run "instance_too_small_for_the_server_is_refused" {
  command = plan

  variables {
    cpu    = "1"
    memory = "512Mi"
  }

  expect_failures = [google_cloud_run_v2_service.api]
}

run "memory_without_a_unit_is_refused" {
  command = plan

  variables {
    memory = "2048"
  }

  expect_failures = [var.memory]
}
