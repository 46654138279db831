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
# The connection Secret berth creates carries an ownerReference that blocks
# its AuroraCluster's deletion (blockOwnerDeletion), which the
# OwnerReferencesPermissionEnforcement admission plugin allows only with
# update on the owner's finalizers.
- apiGroups: [berth.dev]
  resources: [auroraclusters/finalizers]
  verbs: [update]
# An AuroraCluster's connection Secret (endpoints, never a password) is
# created with POST, labelled berth.dev/owner-uid with the AuroraCluster's
# UID and owned by it (aurora_cluster/connection_secret.rs, write).
- apiGroups: [""]
  resources: [secrets]
  verbs: [create]
# When a Secret of that name exists, berth updates it with a JSON patch
# whose first operation tests that label (or, for a Secret an older berth
# wrote, its ownerReference UID): on any other Secret the patch fails as a
# whole and changes nothing (SecretConflict). berth never gets, lists,
# watches or deletes Secrets (e2e tests/rbac.rs proves get is denied);
# garbage collection removes berth's Secret with its AuroraCluster.
- apiGroups: [""]
  resources: [secrets]
  verbs: [patch]
# events.k8s.io/v1 Events for AWS mutations and phase changes: the
# recorder creates an Event, then patches its series count on repeats.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
