-- Argo CD health check for deployer.dev Canary (any version).
-- Uses only the base and table libraries, so it runs as a resource.customizations health check in
-- argocd-cm without useOpenLibs, and as a built-in check.
--
--   status not written yet, or spec generation not observed   Progressing
--   Stalled condition True (the controller's actions fail)      Degraded
--   phase Failed (the Canary cannot work as configured)         Degraded
--   phase RolledBack, or an unverified rollout it had to hold   Degraded
--   phase Paused (a pause: {} gate, spec.paused, a held
--     revision), or spec.paused between releases                Suspended
--   phase Initializing, Progressing, Promoting                  Progressing
--   phase Waiting, Succeeded                                    Healthy
local hs = {}

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function message(default)
  if obj.status ~= nil and obj.status.message ~= nil and obj.status.message ~= "" then
    return obj.status.message
  end
  return default
end

if obj.status == nil or obj.status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Canary to be observed by its controller"
  return hs
end
local generation = tonumber(obj.metadata.generation)
local observed = tonumber(obj.status.observedGeneration)
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for spec generation " .. generation .. " to be observed (observed " .. observed .. ")"
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message
  return hs
end

local phase = obj.status.phase
local ready = condition("Ready")
if phase == "Failed" or phase == "RolledBack" then
  hs.status = "Degraded"
  hs.message = message(phase)
  return hs
end
if ready ~= nil and ready.status == "False" and ready.reason == "UnverifiedRollout" then
  hs.status = "Degraded"
  hs.message = message(ready.message)
  return hs
end
if phase == "Paused" then
  hs.status = "Suspended"
  hs.message = message("Canary is paused")
  return hs
end
if obj.spec ~= nil and obj.spec.paused == true and (phase == "Waiting" or phase == "Succeeded") then
  hs.status = "Suspended"
  hs.message = "Canary is paused by spec.paused: a new revision will be held"
  return hs
end
if phase == "Waiting" or phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = message("")
  return hs
end
if phase == "Initializing" or phase == "Progressing" or phase == "Promoting" then
  hs.status = "Progressing"
  hs.message = message(phase)
  return hs
end
hs.status = "Progressing"
hs.message = "Waiting for the controller to report a phase"
return hs
