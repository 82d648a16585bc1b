{{/*
Names
*/}}
{{- define "shellgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "shellgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "shellgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of a role's objects: <fullname>-<role>. Call with (list $ "gateway"). */}}
{{- define "shellgate.componentName" -}}
{{- $ctx := index . 0 }}
{{- printf "%s-%s" (include "shellgate.fullname" $ctx) (index . 1) }}
{{- end }}

{{/* Name of an executor pool's objects: <fullname>-executor-<pool>. (list $ "pool") */}}
{{- define "shellgate.poolName" -}}
{{- $ctx := index . 0 }}
{{- printf "%s-executor-%s" (include "shellgate.fullname" $ctx) (index . 1) }}
{{- end }}

{{/*
Labels
*/}}
{{- define "shellgate.labels" -}}
helm.sh/chart: {{ include "shellgate.chart" . }}
app.kubernetes.io/name: {{ include "shellgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: shellgate
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "shellgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shellgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one role: (list $ "gateway") */}}
{{- define "shellgate.componentLabels" -}}
{{- $ctx := index . 0 -}}
{{ include "shellgate.labels" $ctx }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "shellgate.componentSelectorLabels" -}}
{{- $ctx := index . 0 -}}
{{ include "shellgate.selectorLabels" $ctx }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Executor pool labels: (list $ "pool") */}}
{{- define "shellgate.poolLabels" -}}
{{- $ctx := index . 0 -}}
{{ include "shellgate.componentLabels" (list $ctx "executor") }}
shellgate/pool: {{ index . 1 }}
{{- end }}

{{- define "shellgate.poolSelectorLabels" -}}
{{- $ctx := index . 0 -}}
{{ include "shellgate.componentSelectorLabels" (list $ctx "executor") }}
shellgate/pool: {{ index . 1 }}
{{- end }}

{{/*
Image
*/}}
{{- define "shellgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Secrets: the name of the Secret holding one item, and its key. Item: databaseUrl,
vaultPublicKey, vaultSecretKey, sessionSecret, notifierKey, adminBootstrapKey.
The chart-made Secrets are split by who may read them:
  <fullname>-database          databaseUrl          (all roles, migration job; a hook)
  <fullname>-vault-secret-key  vaultSecretKey       (executors only)
  <fullname>-approver          vaultPublicKey, sessionSecret, notifierKey, adminBootstrapKey (approver)
*/}}
{{- define "shellgate.chartSecretName" -}}
{{- $ctx := index . 0 }}
{{- $item := index . 1 }}
{{- if eq $item "databaseUrl" }}
{{- include "shellgate.componentName" (list $ctx "database") }}
{{- else if eq $item "vaultSecretKey" }}
{{- include "shellgate.componentName" (list $ctx "vault-secret-key") }}
{{- else }}
{{- include "shellgate.componentName" (list $ctx "approver") }}
{{- end }}
{{- end }}

{{- define "shellgate.secretName" -}}
{{- $ctx := index . 0 }}
{{- $item := index . 1 }}
{{- $cfg := index $ctx.Values.secrets $item }}
{{- if $cfg.existingSecret }}
{{- $cfg.existingSecret }}
{{- else }}
{{- include "shellgate.chartSecretName" . }}
{{- end }}
{{- end }}

{{- define "shellgate.secretKey" -}}
{{- $ctx := index . 0 }}
{{- $item := index . 1 }}
{{- $cfg := index $ctx.Values.secrets $item }}
{{- if $cfg.existingSecret }}
{{- required (printf "secrets.%s.existingSecretKey must name the key inside Secret %s" $item $cfg.existingSecret) $cfg.existingSecretKey }}
{{- else }}
{{- $item }}
{{- end }}
{{- end }}

{{/* An env entry taken from a secret: (list $ "ENV_NAME" "item") */}}
{{- define "shellgate.secretEnv" -}}
{{- $ctx := index . 0 -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "shellgate.secretName" (list $ctx (index . 2)) }}
      key: {{ include "shellgate.secretKey" (list $ctx (index . 2)) }}
{{- end }}

{{/*
Validation of values that a template can check better than the schema (and that still holds
when the schema is skipped). Included by every workload template.
*/}}
{{- define "shellgate.validate" -}}
{{- $s := .Values.secrets }}
{{- if not (or $s.databaseUrl.value $s.databaseUrl.existingSecret) }}
{{- fail "secrets.databaseUrl: Shellgate needs a Postgres URL (Postgres is external to this chart). Set secrets.databaseUrl.value=postgres://USER:PASSWORD@HOST:5432/shellgate, or secrets.databaseUrl.existingSecret to a Secret holding it (key: secrets.databaseUrl.existingSecretKey)." }}
{{- end }}
{{- if not (or .Values.gateway.enabled .Values.approver.enabled .Values.executor.enabled) }}
{{- fail "gateway.enabled, approver.enabled and executor.enabled are all false: nothing to deploy" }}
{{- end }}
{{- if and .Values.executor.enabled (not (or $s.vaultSecretKey.value $s.vaultSecretKey.existingSecret)) }}
{{- fail "secrets.vaultSecretKey: the executors need the vault secret key, and the chart cannot make a key pair. Run `shellgate keygen` (or `docker run --rm <image> keygen`) and set secrets.vaultSecretKey.value and secrets.vaultPublicKey.value from its output, or store them in Secrets and set secrets.vaultSecretKey.existingSecret / secrets.vaultPublicKey.existingSecret. Back the secret key up: credentials sealed to the pair cannot be opened without it." }}
{{- end }}
{{- if and .Values.approver.enabled (not (or $s.vaultPublicKey.value $s.vaultPublicKey.existingSecret)) }}
{{- fail "secrets.vaultPublicKey: the approver needs the vault public key that belongs to the secret key. Set secrets.vaultPublicKey.value from `shellgate keygen` (the SHELLGATE_VAULT_PUBLIC_KEY line), or secrets.vaultPublicKey.existingSecret." }}
{{- end }}
{{- if and (not .Values.nats.enabled) (not (or .Values.externalNats.url .Values.externalNats.existingSecret)) }}
{{- fail "externalNats.url: Shellgate needs NATS with JetStream. Set externalNats.url (e.g. nats://nats.nats.svc.cluster.local:4222) or externalNats.existingSecret, or enable the bundled NATS chart with nats.enabled=true (after `helm dependency update`)." }}
{{- end }}
{{- if and .Values.nats.enabled (not (hasKey .Subcharts "nats")) }}
{{- fail "nats.enabled=true but the NATS chart is not in helm/shellgate/charts/: run `helm repo add nats https://nats-io.github.io/k8s/helm/charts/ && helm dependency update helm/shellgate` first, or use externalNats.url." }}
{{- end }}
{{- $drainMs := add (mul (int .Values.shutdown.preStopSleepSeconds) 1000) (int64 .Values.config.shutdownGraceMs) }}
{{- if le (mul (int .Values.shutdown.terminationGracePeriodSeconds) 1000) $drainMs }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%v s) must be longer than shutdown.preStopSleepSeconds + config.shutdownGraceMs (%v ms), or in-flight requests are killed" .Values.shutdown.terminationGracePeriodSeconds $drainMs) }}
{{- end }}
{{- $reserved := list "SHELLGATE_DATABASE_URL" "SHELLGATE_NATS_URL" "SHELLGATE_VAULT_PUBLIC_KEY" "SHELLGATE_VAULT_SECRET_KEY" "SHELLGATE_SESSION_SECRET" "SHELLGATE_NOTIFIER_KEY" "SHELLGATE_ADMIN_BOOTSTRAP_KEY" "SHELLGATE_EXECUTOR_POOL" "SHELLGATE_GATEWAY_LISTEN" "SHELLGATE_APPROVER_LISTEN" "SHELLGATE_EXECUTOR_LISTEN" "SHELLGATE_CONFIG" "SHELLGATE_LOG_FORMAT" "SHELLGATE_NATS_PREFIX" "SHELLGATE_SHUTDOWN_GRACE_MS" "SHELLGATE_TRUSTED_PROXIES" }}
{{- range $k, $_ := .Values.config.extraEnv }}
{{- if or (has $k $reserved) (hasPrefix "SHELLGATE_SSH_" $k) (hasPrefix "SHELLGATE_NOTIFY_" $k) }}
{{- fail (printf "config.extraEnv.%s is set by the chart (secrets.*, externalNats, executor.pools, config.*, config.ssh.*, notifications.*): remove it from config.extraEnv" $k) }}
{{- end }}
{{- end }}
{{- range $role := list "gateway" "approver" }}
{{- range (index $.Values $role).extraEnv }}
{{- if eq .name "SHELLGATE_VAULT_SECRET_KEY" }}
{{- fail (printf "%s.extraEnv: SHELLGATE_VAULT_SECRET_KEY belongs to executors only; never give it to the %s" $role $role) }}
{{- end }}
{{- end }}
{{- end }}
{{- $seen := dict }}
{{- if and .Values.executor.enabled (not .Values.executor.pools) }}
{{- fail "executor.pools: at least one executor pool is needed (e.g. [{name: default}]); without executors every request answers 503 no_executor" }}
{{- end }}
{{- range .Values.executor.pools }}
{{- if not (regexMatch "^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$" (toString .name)) }}
{{- fail (printf "executor.pools: pool name %q must be lowercase letters, digits or '-' (at most 40, starting and ending with a letter or digit)" (toString .name)) }}
{{- end }}
{{- if hasKey $seen .name }}
{{- fail (printf "executor.pools: pool %q is listed twice" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- end }}
{{- end }}

{{/*
The effective settings of one executor pool: the executor defaults overlaid by the pool entry,
key by key (maps such as autoscaling are merged one level deep). Returns JSON.
*/}}
{{- define "shellgate.pool" -}}
{{- $ctx := index . 0 }}
{{- $entry := index . 1 }}
{{- $d := $ctx.Values.executor }}
{{- $p := dict "name" $entry.name }}
{{- range $k := list "replicas" "resources" "nodeSelector" "tolerations" "affinity" "topologySpreadConstraints" "priorityClassName" "podAnnotations" "podLabels" "extraEnv" }}
{{- if hasKey $entry $k }}
{{- $_ := set $p $k (index $entry $k) }}
{{- else }}
{{- $_ := set $p $k (index $d $k) }}
{{- end }}
{{- end }}
{{- range $k := list "autoscaling" "podDisruptionBudget" "networkPolicy" "serviceAccount" }}
{{- $m := deepCopy (index $d $k | default dict) }}
{{- range $kk, $vv := (index $entry $k | default dict) }}
{{- $_ := set $m $kk $vv }}
{{- end }}
{{- $_ := set $p $k $m }}
{{- end }}
{{- toJson $p }}
{{- end }}

{{/*
The NATS URL env entry.
*/}}
{{- define "shellgate.natsEnv" -}}
{{- if .Values.nats.enabled }}
{{- $natsName := "" }}
{{- if .Values.nats.fullnameOverride }}
{{- $natsName = .Values.nats.fullnameOverride }}
{{- else if contains "nats" .Release.Name }}
{{- $natsName = .Release.Name }}
{{- else }}
{{- $natsName = printf "%s-nats" .Release.Name }}
{{- end }}
- name: SHELLGATE_NATS_URL
  value: {{ printf "nats://%s:4222" ($natsName | trunc 63 | trimSuffix "-") | quote }}
{{- else if .Values.externalNats.existingSecret }}
- name: SHELLGATE_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalNats.existingSecret }}
      key: {{ .Values.externalNats.existingSecretKey | default "natsUrl" }}
{{- else }}
- name: SHELLGATE_NATS_URL
  value: {{ .Values.externalNats.url | quote }}
{{- end }}
{{- end }}

{{/*
Pod-level pieces shared by the roles.
*/}}
{{- define "shellgate.podSecurity" -}}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Probes, lifecycle and security of a role's container. (list $ port) */}}
{{- define "shellgate.containerRuntime" -}}
{{- $ctx := index . 0 }}
{{- $p := $ctx.Values.probes -}}
ports:
  - name: http
    containerPort: {{ index . 1 }}
    protocol: TCP
startupProbe:
  httpGet:
    path: /health
    port: http
  periodSeconds: {{ $p.startup.periodSeconds }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /health
    port: http
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /ready
    port: http
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
lifecycle:
  preStop:
    exec:
      command: ["/bin/sleep", "{{ $ctx.Values.shutdown.preStopSleepSeconds }}"]
securityContext:
  {{- toYaml $ctx.Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/* Pod annotations of a role: config checksum, metrics, user annotations. (list $ port annotations) */}}
{{- define "shellgate.podAnnotations" -}}
{{- $ctx := index . 0 -}}
checksum/config: {{ include (print $ctx.Template.BasePath "/configmap.yaml") $ctx | sha256sum }}
{{- if $ctx.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ index . 1 | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with index . 2 }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Default soft spread across nodes. (list $ selectorLabelsYaml userConstraints) */}}
{{- define "shellgate.topologySpread" -}}
{{- $ctx := index . 0 }}
{{- with index . 2 }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- else }}
{{- if $ctx.Values.spreadAcrossNodes }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- index . 1 | nindent 8 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Egress rules to DNS, NATS and Postgres (NetworkPolicy), shared by the roles. */}}
{{- define "shellgate.coreEgress" -}}
{{- $np := .Values.networkPolicy -}}
- ports:
    - protocol: UDP
      port: {{ $np.dns.port }}
    - protocol: TCP
      port: {{ $np.dns.port }}
  {{- with $np.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
- ports:
    - protocol: TCP
      port: {{ $np.nats.port }}
  {{- with $np.nats.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
- ports:
    - protocol: TCP
      port: {{ $np.postgres.port }}
  {{- with $np.postgres.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
