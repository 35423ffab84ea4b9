{{/* Labels on every object. */}}
{{- define "tidemark.labels" -}}
app.kubernetes.io/name: tidemark
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: tidemark
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: tidemark-{{ .Chart.Version }}
{{- end }}

{{/* What the Deployment, its Service and its ServiceMonitor select on. */}}
{{- define "tidemark.selectorLabels" -}}
app.kubernetes.io/name: tidemark
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}
