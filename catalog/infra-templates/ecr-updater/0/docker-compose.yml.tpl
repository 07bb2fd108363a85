# ecr-updater: keeps the pull credentials of AWS ECR registries fresh in Rancher.
#
# Rancher renders this file in two steps: Go text/template first (the answers are
# .Values, all strings), then each dollar-brace reference in a value is replaced by its
# answer. An empty answer reaches the daemon as an empty variable, which it reads as
# "not set". Compose file version '2' (exactly: Rancher 1.6 reads anything else as v1).
# No restart policy: Rancher restarts the service's container itself, and the
# health check in rancher-compose.yml recreates it when /healthz keeps failing.
#
# Keys from Rancher secrets: a key whose "... from a Rancher secret" question names a
# secret is mounted at /run/secrets/<fixed name> (owned by the image's user 65532, mode
# 0400) and the daemon reads it through <VARIABLE>_FILE; its plain variable is not set.
# A secret is not part of the service's configuration, which every member of the
# environment who can view the stack can read. It needs the Rancher Secrets stack.
# The secret's name is a value (interpolated) under the service, and a key (templated,
# quoted with printf %q, which YAML reads back as the same string) at the top level.
#
# The Rancher CA (a multiline answer: PEM, several lines, the armour lines starting with
# -----) is only ever written as the whole value ${rancher_ca_cert}, never through a
# template action on .Values.rancher_ca_cert (not even in a comment: the template step
# runs over comments too). The template's output is parsed as YAML, so templated line
# breaks would end the value and a line of ----- would start a new YAML document; a
# dollar-brace reference is replaced after the parsing, inside the parsed value
# (libcompose's interpolation), so every line break of the answer reaches the daemon as
# it is. The daemon reads RANCHER_CA_CERT as the PEM itself when it holds -----BEGIN,
# and as a path otherwise.
version: '2'
services:
  ecr-updater:
    image: ${image}
    environment:
{{- if .Values.aws_access_key_id_from_secret }}
      AWS_ACCESS_KEY_ID_FILE: /run/secrets/aws_access_key_id
{{- else }}
      AWS_ACCESS_KEY_ID: ${aws_access_key_id}
{{- end }}
{{- if .Values.aws_secret_access_key_from_secret }}
      AWS_SECRET_ACCESS_KEY_FILE: /run/secrets/aws_secret_access_key
{{- else }}
      AWS_SECRET_ACCESS_KEY: ${aws_secret_access_key}
{{- end }}
{{- if .Values.aws_session_token_from_secret }}
      AWS_SESSION_TOKEN_FILE: /run/secrets/aws_session_token
{{- else }}
      AWS_SESSION_TOKEN: ${aws_session_token}
{{- end }}
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
{{- if .Values.http_proxy_from_secret }}
      HTTP_PROXY_FILE: /run/secrets/http_proxy
{{- else }}
      HTTP_PROXY: ${http_proxy}
{{- end }}
{{- if .Values.https_proxy_from_secret }}
      HTTPS_PROXY_FILE: /run/secrets/https_proxy
{{- else }}
      HTTPS_PROXY: ${https_proxy}
{{- end }}
      NO_PROXY: ${no_proxy}
      RANCHER_TIMEOUT: ${rancher_timeout}
      ECR_TIMEOUT: ${ecr_timeout}
{{- if .Values.rancher_ca_cert_from_secret }}
      RANCHER_CA_CERT_FILE: /run/secrets/rancher_ca_cert
{{- else }}
      RANCHER_CA_CERT: ${rancher_ca_cert}
{{- end }}
      # The health check in rancher-compose.yml probes this port.
      LISTEN_PORT: '8080'
{{- if eq .Values.registry_in_which_environment "other" }}
      # Registry Environment = other: the Environment API key of the environment
      # whose registries are updated. No agent labels, so Rancher injects nothing.
      CATTLE_URL: ${environment_api_endpoint}
{{- if .Values.environment_api_access_key_from_secret }}
      CATTLE_ACCESS_KEY_FILE: /run/secrets/cattle_access_key
{{- else }}
      CATTLE_ACCESS_KEY: ${environment_api_access_key}
{{- end }}
{{- if .Values.environment_api_secret_key_from_secret }}
      CATTLE_SECRET_KEY_FILE: /run/secrets/cattle_secret_key
{{- else }}
      CATTLE_SECRET_KEY: ${environment_api_secret_key}
{{- end }}
      RANCHER_ENVIRONMENTS: ${rancher_environments}
{{- end }}
{{- $pull := ne .Values.pull_image "false" }}
{{- $agent := ne .Values.registry_in_which_environment "other" }}
{{- if or $pull $agent }}
    labels:
{{- if $pull }}
      # Pull Image at Every Start (pull_image = true, the default).
      io.rancher.container.pull_image: always
{{- end }}
{{- if $agent }}
      # Registry Environment = current: Rancher creates an environment API key for
      # the container and injects CATTLE_URL, CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY.
      io.rancher.container.create_agent: 'true'
      io.rancher.container.agent.role: environment
{{- end }}
{{- end }}
{{- $other := eq .Values.registry_in_which_environment "other" }}
{{- $cattleAccess := and $other .Values.environment_api_access_key_from_secret }}
{{- $cattleSecret := and $other .Values.environment_api_secret_key_from_secret }}
{{- if or .Values.aws_access_key_id_from_secret .Values.aws_secret_access_key_from_secret .Values.aws_session_token_from_secret .Values.http_proxy_from_secret .Values.https_proxy_from_secret .Values.rancher_ca_cert_from_secret $cattleAccess $cattleSecret }}
    secrets:
{{- if .Values.aws_access_key_id_from_secret }}
    - source: ${aws_access_key_id_from_secret}
      target: aws_access_key_id
      uid: '65532'
      gid: '65532'
      mode: '0400'
{{- end }}
{{- if .Values.aws_secret_access_key_from_secret }}
    - source: ${aws_secret_access_key_from_secret}
      target: aws_secret_access_key
      uid: '65532'
      gid: '65532'
      mode: '0400'
{{- end }}
{{- if .Values.aws_session_token_from_secret }}
    - source: ${aws_session_token_from_secret}
      target: aws_session_token
      uid: '65532'
      gid: '65532'
      mode: '0400'
{{- end }}
{{- if .Values.http_proxy_from_secret }}
    - source: ${http_proxy_from_secret}
      target: http_proxy
      uid: '65532'
      gid: '65532'
      mode: '0400'
{{- end }}
{{- if .Values.https_proxy_from_secret }}
    - source: ${https_proxy_from_secret}
      target: https_proxy
      uid: '65532'
      gid: '65532'
      mode: '0400'
{{- end }}
{{- if .Values.rancher_ca_cert_from_secret }}
    - source: ${rancher_ca_cert_from_secret}
      target: rancher_ca_cert
      uid: '65532'
      gid: '65532'
      mode: '0400'
{{- end }}
{{- if $cattleAccess }}
    - source: ${environment_api_access_key_from_secret}
      target: cattle_access_key
      uid: '65532'
      gid: '65532'
      mode: '0400'
{{- end }}
{{- if $cattleSecret }}
    - source: ${environment_api_secret_key_from_secret}
      target: cattle_secret_key
      uid: '65532'
      gid: '65532'
      mode: '0400'
{{- end }}
secrets:
{{- if .Values.aws_access_key_id_from_secret }}
  {{ printf "%q" .Values.aws_access_key_id_from_secret }}:
    external: true
{{- end }}
{{- if .Values.aws_secret_access_key_from_secret }}
  {{ printf "%q" .Values.aws_secret_access_key_from_secret }}:
    external: true
{{- end }}
{{- if .Values.aws_session_token_from_secret }}
  {{ printf "%q" .Values.aws_session_token_from_secret }}:
    external: true
{{- end }}
{{- if .Values.http_proxy_from_secret }}
  {{ printf "%q" .Values.http_proxy_from_secret }}:
    external: true
{{- end }}
{{- if .Values.https_proxy_from_secret }}
  {{ printf "%q" .Values.https_proxy_from_secret }}:
    external: true
{{- end }}
{{- if .Values.rancher_ca_cert_from_secret }}
  {{ printf "%q" .Values.rancher_ca_cert_from_secret }}:
    external: true
{{- end }}
{{- if $cattleAccess }}
  {{ printf "%q" .Values.environment_api_access_key_from_secret }}:
    external: true
{{- end }}
{{- if $cattleSecret }}
  {{ printf "%q" .Values.environment_api_secret_key_from_secret }}:
    external: true
{{- end }}
{{- end }}
