{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "smg.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release already names the chart. */}}
{{- define "smg.fullname" -}}
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

{{- define "smg.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "smg.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "smg.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smg.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "smg.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "smg.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret that holds the config file. */}}
{{- define "smg.configSecret" -}}
{{- if .Values.config.existingSecret }}
{{- .Values.config.existingSecret }}
{{- else }}
{{- printf "%s-config" (include "smg.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The config file the chart stores: config.json with the redis block merged
into common_mcp_gateway_config.
*/}}
{{- define "smg.configJSON" -}}
{{- $cfg := .Values.config.json | fromJson }}
{{- if hasKey $cfg "Error" }}
{{- fail (printf "config.json is not a JSON object: %s" (get $cfg "Error")) }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- if not .Values.redis.host }}
{{- fail "redis.enabled needs redis.host" }}
{{- end }}
{{- $common := get $cfg "common_mcp_gateway_config" | default dict }}
{{- $_ := set $common "enkrypt_mcp_use_external_cache" true }}
{{- $_ := set $common "enkrypt_cache_host" .Values.redis.host }}
{{- $_ := set $common "enkrypt_cache_port" (int .Values.redis.port) }}
{{- $_ := set $common "enkrypt_cache_db" (int .Values.redis.db) }}
{{- if .Values.redis.password }}
{{- $_ := set $common "enkrypt_cache_password" .Values.redis.password }}
{{- end }}
{{- $_ := set $cfg "common_mcp_gateway_config" $common }}
{{- end }}
{{- $cfg | toPrettyJson }}
{{- end }}

{{/* The config path inside the pod: in the writable state directory. */}}
{{- define "smg.configPath" -}}
/var/lib/secure-mcp-gateway/{{ .Values.config.key }}
{{- end }}
