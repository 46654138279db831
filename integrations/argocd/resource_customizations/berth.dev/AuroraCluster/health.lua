-- Argo CD health check for berth.dev/v1alpha1 AuroraCluster.
-- tests/argocd_health.rs copies it into integrations/argocd/argocd-cm.yaml;
-- see docs/argocd-flux.md. Lua 5.1 (gopher-lua) with only the base and table
-- libraries, as argocd-cm scripts run without resource.customizations.useOpenLibs.
--
-- Order: status.observedGeneration missing or behind metadata.generation ->
-- Progressing; Degraded condition True -> Degraded; berth.dev/paused "true" ->
-- Suspended; Ready condition True -> Healthy; anything else -> Progressing
-- with the Ready condition's message.
local hs = {}

-- A non-empty string, or nil ("" is true in Lua).
local function text(s)
  if type(s) == "string" and s ~= "" then
    return s
  end
  return nil
end

local function condition(t)
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == t then
        return c
      end
    end
  end
  return nil
end

local function message_of(c)
  if c ~= nil then
    return text(c.message)
  end
  return nil
end

local ready = condition("Ready")
local degraded = condition("Degraded")
local annotations = obj.metadata.annotations
local paused = annotations ~= nil and annotations["berth.dev/paused"] == "true"
local generation = obj.metadata.generation
local observed = nil
if obj.status ~= nil then
  observed = obj.status.observedGeneration
end

-- A status of an older spec says nothing about the current one, not even
-- that it is degraded (as Argo CD's own Deployment check).
if observed == nil then
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = "waiting for berth to report the status of generation " .. generation
  else
    hs.message = "waiting for berth to report a status"
  end
  return hs
end
if generation ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "waiting for berth to observe generation " .. generation
    .. " (status is of generation " .. observed .. ")"
  return hs
end

if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = message_of(degraded) or message_of(ready) or text(degraded.reason)
    or "berth reports this AuroraCluster as degraded"
  return hs
end

if paused then
  hs.status = "Suspended"
  if ready ~= nil and ready.reason == "Paused" and message_of(ready) ~= nil then
    hs.message = ready.message
  else
    hs.message = 'berth.dev/paused is "true": berth makes no RDS changes for this cluster'
  end
  return hs
end


if not paused and ready ~= nil and ready.reason == "Paused" then
  -- The annotation is gone; the status is from before berth resumed.
  hs.status = "Progressing"
  hs.message = "berth.dev/paused was removed: waiting for berth to resume"
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message_of(ready) or "AuroraCluster is ready"
  return hs
end

hs.status = "Progressing"
hs.message = message_of(ready) or message_of(condition("Progressing"))
  or "waiting for berth to report the Ready condition"
return hs
