{{/*
Helpers. The chart uses only these template functions (tests/chart.rs
renders it without Helm and implements exactly them): include, toYaml,
indent, nindent, default, quote, required, trunc, trimSuffix, contains,
printf, eq, ne, and, or, not.
*/}}

{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-berth" (or "<release>" when it contains "berth"): every name derives from it, so two releases never collide. */}}
{{- define "berth.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "berth.serviceAccountName" -}}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "berth.labels" -}}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The rules berth needs on its own kinds, Secrets and Events: the same rules
in the ClusterRole (all namespaces) and in the Role (watchNamespace).
*/}}
{{- define "berth.namespacedRules" -}}
# Watch (list + watch) the four kinds; patch adds and removes the
# berth.dev/cleanup finalizer (kube-runtime finalizer(), a JSON patch).
- apiGroups: [berth.dev]
  resources: [auroraclusters, ecsservices, migrationjobs, pullthroughcaches]
  verbs: [list, watch, patch]
# A MigrationJob with databaseRef reads its AuroraCluster's endpoint.
- apiGroups: [berth.dev]
  resources: [auroraclusters]
  verbs: [get]
# ttlSecondsAfterFinished deletes finished standalone MigrationJobs.
- apiGroups: [berth.dev]
  resources: [migrationjobs]
  verbs: [delete]
# Status is written by server-side apply of the status subresource only.
- apiGroups: [berth.dev]
  resources: [auroraclusters/status, ecsservices/status, migrationjobs/status, pullthroughcaches/status]
  verbs: [patch]
# The connection Secret's ownerReference blocks its AuroraCluster's deletion
# (blockOwnerDeletion), which the OwnerReferencesPermissionEnforcement
# admission plugin allows only with update on the owner's finalizers.
- apiGroups: [berth.dev]
  resources: [auroraclusters/finalizers]
  verbs: [update]
# AuroraCluster writes its connection Secret (endpoints, never a password)
# by server-side apply: patch, plus create because an apply that creates
# the Secret is authorized as create too (tests/rbac.rs in e2e proves it).
# berth never gets, lists, watches or deletes Secrets: garbage collection
# removes the Secret with its AuroraCluster (ownerReference).
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, patch]
# events.k8s.io/v1 Events for AWS mutations and phase changes: the
# recorder creates an Event, then patches its series count on repeats.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
