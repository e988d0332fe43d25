{{/*
The name of every object: the release name when it contains "deployer" (release "deployer" gives
the names of the kustomize base), else "<release>-deployer". Cluster-scoped objects (ClusterRole,
ClusterRoleBinding, webhook configurations) carry it too, so two releases never share one.
*/}}
{{- define "deployer.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The operator's user: its own writes (with its field manager) skip both webhooks. */}}
{{- define "deployer.operatorUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "deployer.fullname" . }}
{{- end -}}

{{/* Labels of every object: the kustomize base's, Helm's, and commonLabels. */}}
{{- define "deployer.labels" -}}
app.kubernetes.io/name: deployer
app.kubernetes.io/part-of: deployer
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The operator's pods; the same selector as the kustomize base (selectors are immutable). */}}
{{- define "deployer.selectorLabels" -}}
app.kubernetes.io/name: deployer
app.kubernetes.io/component: operator
{{- end -}}

{{/* metadata.annotations from commonAnnotations, when there are any. */}}
{{- define "deployer.annotations" -}}
{{- with .Values.commonAnnotations -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The webhooks' matchConditions entry that exempts the operator's own writes. */}}
{{- define "deployer.notTheOperator" -}}
- name: not-the-operator
  expression: {{ printf "!(request.userInfo.username == %s && has(request.options) && has(request.options.fieldManager) && request.options.fieldManager == \"deployer\")" (include "deployer.operatorUser" . | quote) | squote }}
{{- end -}}

{{/* Only the watched namespaces are sent to the webhooks (the operator applies the same selector). */}}
{{- define "deployer.namespaceSelector" -}}
{{- with .Values.watchNamespaces -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: In
      values:
        {{- toYaml (sortAlpha .) | nindent 8 }}
{{- end }}
{{- end -}}
