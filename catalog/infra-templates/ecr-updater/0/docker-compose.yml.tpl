# ecr-updater: keeps the pull credentials of AWS ECR registries fresh in Rancher.
#
# Rancher renders this file in two steps: Go text/template first (the answers are
# .Values, all strings), then each dollar-brace reference is replaced by its answer.
# An empty answer reaches the daemon as an empty variable, which it reads as "not set".
# No restart policy: Rancher restarts the service's container itself, and the
# health check in rancher-compose.yml recreates it when /healthz keeps failing.
ecr-updater:
  image: ${image}
  environment:
    AWS_ACCESS_KEY_ID: ${aws_access_key_id}
    AWS_SECRET_ACCESS_KEY: ${aws_secret_access_key}
    AWS_SESSION_TOKEN: ${aws_session_token}
    AWS_REGION: ${aws_region}
    AWS_ROLE_ARN: ${aws_role_arn}
    AWS_ECR_REGISTRY_IDS: ${aws_ecr_registry_ids}
    ECR_REGIONS: ${ecr_regions}
    AUTO_CREATE: ${auto_create}
    UPDATE_INTERVAL: ${update_interval}
    DRY_RUN: ${dry_run}
    EVENTS: ${events}
    DISCOVER_REGISTRIES: ${discover_registries}
    LOG_LEVEL: ${log_level}
    LOG_FORMAT: ${log_format}
    HTTP_PROXY: ${http_proxy}
    HTTPS_PROXY: ${https_proxy}
    NO_PROXY: ${no_proxy}
    # The health check in rancher-compose.yml probes this port.
    LISTEN_PORT: '8080'
{{- if eq .Values.registry_in_which_environment "other" }}
    # Registry Environment = other: the Environment API key of the environment
    # whose registries are updated. No agent labels, so Rancher injects nothing.
    CATTLE_URL: ${environment_api_endpoint}
    CATTLE_ACCESS_KEY: ${environment_api_access_key}
    CATTLE_SECRET_KEY: ${environment_api_secret_key}
    RANCHER_ENVIRONMENTS: ${rancher_environments}
{{- end }}
  labels:
    io.rancher.container.pull_image: always
{{- if ne .Values.registry_in_which_environment "other" }}
    # Registry Environment = current: Rancher creates an environment API key for
    # the container and injects CATTLE_URL, CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY.
    io.rancher.container.create_agent: 'true'
    io.rancher.container.agent.role: environment
{{- end }}
