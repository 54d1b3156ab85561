{{/*
The prefix of every object's name: the release name when it contains the chart's name (so the release
"mmelink" gives the names of dist/install.yaml), else "<release>-<chart>".
*/}}
{{- define "mmelink.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* app.kubernetes.io/name of the pods, their selectors and the Namespace. */}}
{{- define "mmelink.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object's metadata. */}}
{{- define "mmelink.labels" -}}
app.kubernetes.io/part-of: mmelink
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The selector labels of one component: include "mmelink.selectorLabels" (list . "manager") */}}
{{- define "mmelink.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/name: {{ include "mmelink.name" $root }}
{{- end -}}

{{/* A component's metadata labels: its selector labels and the common ones. */}}
{{- define "mmelink.componentLabels" -}}
{{ include "mmelink.selectorLabels" . }}
{{ include "mmelink.labels" (index . 0) }}
{{- end -}}

{{- define "mmelink.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "mmelink.webhookSecretName" -}}
{{- default (printf "%s-webhook" (include "mmelink.fullname" .)) .Values.webhookSecret.name -}}
{{- end -}}

{{/*
Which pods serve Meta's callbacks: the webhook-server Deployment's, or the manager's with the bundled
receiver. The Service, Ingress and NetworkPolicy follow.
*/}}
{{- define "mmelink.receiverComponent" -}}
{{- if .Values.bundledWebhook.enabled -}}manager{{- else -}}webhook-server{{- end -}}
{{- end -}}

{{/* The receiver's secret files: flags, volume and mount (webhook-server, or the bundled manager). */}}
{{- define "mmelink.webhookSecretArgs" -}}
- --app-secret-file=/etc/mmelink/webhook/app-secret
- --verify-token-file=/etc/mmelink/webhook/verify-token
{{- end -}}

{{- define "mmelink.ledgerArgs" -}}
{{- $l := .Values.ledger -}}
{{- if eq $l.mode "postgres" }}
- --ledger=postgres
- --ledger-dsn-file=/etc/mmelink/ledger/dsn
- --ledger-key-file=/etc/mmelink/ledger/key
{{- with $l.postgres.retention }}
- --ledger-retention={{ . }}
{{- end }}
{{- with $l.postgres.projectInterval }}
- --ledger-project-interval={{ . }}
{{- end }}
{{- with $l.postgres.maxConns }}
- --ledger-max-conns={{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "mmelink.receiverMounts" -}}
- name: webhook-secret
  mountPath: /etc/mmelink/webhook
  readOnly: true
{{- if eq .Values.ledger.mode "postgres" }}
- name: ledger
  mountPath: /etc/mmelink/ledger
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The Secrets as files, mode 0440 with the pod's fsGroup: the non-root user reads them, nobody else needs
to. Only the named keys: a missing key keeps the pod from starting rather than starting it with an empty
secret.
*/}}
{{- define "mmelink.receiverVolumes" -}}
- name: webhook-secret
  secret:
    secretName: {{ include "mmelink.webhookSecretName" . }}
    items:
    - key: app-secret
      path: app-secret
    - key: verify-token
      path: verify-token
    defaultMode: 288
{{- if eq .Values.ledger.mode "postgres" }}
{{- $pg := .Values.ledger.postgres }}
{{- if not $pg.dsnSecret.name }}{{ fail "ledger.mode=postgres needs ledger.postgres.dsnSecret.name" }}{{ end }}
{{- if not $pg.keySecret.name }}{{ fail "ledger.mode=postgres needs ledger.postgres.keySecret.name" }}{{ end }}
- name: ledger
  projected:
    sources:
    - secret:
        name: {{ $pg.dsnSecret.name }}
        items:
        - key: {{ $pg.dsnSecret.key }}
          path: dsn
    - secret:
        name: {{ $pg.keySecret.name }}
        items:
        - key: {{ $pg.keySecret.key }}
          path: key
    defaultMode: 288
{{- end }}
{{- end -}}

{{/* nodeSelector, tolerations, affinity and imagePullSecrets of a pod spec; the argument is the component's values. */}}
{{- define "mmelink.scheduling" -}}
{{- $root := index . 0 -}}
{{- $v := index . 1 -}}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
{{ toYaml . }}
{{- end }}
{{- with $v.affinity }}
affinity:
{{ toYaml . | indent 2 }}
{{- end }}
{{- end -}}
