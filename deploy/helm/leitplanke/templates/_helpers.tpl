{{/* Names, labels and the pieces every pod of the chart shares. */}}

{{- define "leitplanke.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "leitplanke.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* selector labels of one component: include "leitplanke.selector" (list . "api") */}}
{{- define "leitplanke.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "leitplanke.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "leitplanke.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "%s-database" (include "leitplanke.fullname" .)) -}}
{{- end -}}

{{- define "leitplanke.auditSecret" -}}
{{- .Values.audit.existingSecret | default (printf "%s-audit" (include "leitplanke.fullname" .)) -}}
{{- end -}}

{{- define "leitplanke.webhookService" -}}
{{- printf "%s-webhook" (include "leitplanke.fullname" .) -}}
{{- end -}}

{{- define "leitplanke.tlsSecret" -}}
{{- printf "%s-webhook-tls" (include "leitplanke.fullname" .) -}}
{{- end -}}

{{/* the restricted container securityContext (Pod Security Standards "restricted") */}}
{{- define "leitplanke.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* environment every leitplanke process needs: writable places only under /tmp and the data volume */}}
{{- define "leitplanke.baseEnv" -}}
- name: LEITPLANKE_DATA_DIR
  value: /var/lib/leitplanke
- name: LEITPLANKE_CACHE_DIR
  value: /tmp/leitplanke-cache
- name: HOME
  value: /tmp
{{- end -}}

{{- define "leitplanke.databaseEnv" -}}
- name: LEITPLANKE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "leitplanke.databaseSecret" . }}
      key: {{ .Values.database.existingSecretKey }}
{{- end -}}

{{/* pod-level scheduling: spread over nodes, the user's selectors and tolerations */}}
{{- define "leitplanke.scheduling" -}}
{{- $root := index . 0 -}}
topologySpreadConstraints:
  - maxSkew: {{ $root.Values.topologySpread.maxSkew }}
    topologyKey: {{ $root.Values.topologySpread.topologyKey }}
    whenUnsatisfiable: {{ $root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "leitplanke.selector" . | nindent 8 }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
