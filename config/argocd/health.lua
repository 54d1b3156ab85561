-- Argo CD health check of MessengerLink, NotificationTopic and MessengerPage (messenger.mmelink.io): the
-- same decision as kstatus (sigs.k8s.io/cli-utils), which Flux and kpt use, so that every GitOps tool
-- reads the conditions alike. Healthy = Current, Progressing = InProgress (and Terminating),
-- Degraded = Failed. Install it as resource.customizations.health.messenger.mmelink.io_<Kind> in argocd-cm
-- (see the README); the tests in internal/observability run it on the same fixtures as kstatus.
local hs = {}
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted"
  return hs
end
local status = obj.status or {}
-- The CRDs default status.observedGeneration to -1: a new object is Progressing until its first reconcile.
if obj.metadata ~= nil and obj.metadata.generation ~= nil and status.observedGeneration ~= nil and
    status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. tostring(obj.metadata.generation)
  return hs
end
local conditions = status.conditions or {}
-- Reconciling=True: the controller gets there by itself. Stalled=True: only a person can help. The
-- controllers never set both; the first in the list decides, as in kstatus.
for _, c in ipairs(conditions) do
  if c.type == "Reconciling" and c.status == "True" then
    hs.status = "Progressing"
    hs.message = (c.reason or "") .. ": " .. (c.message or "")
    return hs
  end
  if c.type == "Stalled" and c.status == "True" then
    hs.status = "Degraded"
    hs.message = (c.reason or "") .. ": " .. (c.message or "")
    return hs
  end
end
-- Ready alone decides the rest. PageReady (the MessengerPage's health, on links and topics) does not: a
-- link is written and Healthy even while its Page is not ready; the condition tells why it counts nothing.
for _, c in ipairs(conditions) do
  if c.type == "Ready" and (c.status == "True" or c.status == "False" or c.status == "Unknown") then
    hs.status = "Progressing"
    if c.status == "True" then
      hs.status = "Healthy"
    end
    hs.message = (c.reason or "") .. ": " .. (c.message or "")
    return hs
  end
end
hs.status = "Healthy"
hs.message = "No conditions"
return hs
