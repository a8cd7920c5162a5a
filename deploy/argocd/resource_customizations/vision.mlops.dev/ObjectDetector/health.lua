-- Argo CD health for vision.mlops.dev/ObjectDetector, read from the status the operator writes
-- (docs/design.md "ObjectDetector status"). Healthy only when Ready=True for the latest spec.
local hs = {}

local function condition(conditions, type)
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

-- A status written for an older spec says nothing about the current one.
local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

-- The operator sets Degraded=True for what will not heal by waiting: ModelLoadFailed,
-- Unschedulable, InvalidSpec, Forbidden, ClaimNotFound, ServerCrashLooping.
local degraded = condition(status.conditions, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = degraded.message or degraded.reason or "Degraded"
  return hs
end

-- A status without a Degraded condition (an older operator, or a status half-written) is judged
-- by Ready's reason alone. The same reasons as the operator's status.FAILURES (a unit test checks).
local failures = {
  ClaimNotFound = true,
  Forbidden = true,
  InvalidSpec = true,
  ModelLoadFailed = true,
  ServerCrashLooping = true,
  Unschedulable = true,
}
local ready = condition(status.conditions, "Ready")
if degraded == nil and ready ~= nil and ready.status == "False" and failures[ready.reason] then
  hs.status = "Degraded"
  hs.message = ready.message or ready.reason
  return hs
end

-- A new spec rolling out is not yet what Git asked for, even while the old pods keep serving
-- (Ready=True): Argo CD shows a Deployment mid-rollout the same way.
local progressing = condition(status.conditions, "Progressing")
if ready ~= nil and ready.status == "True" and progressing ~= nil and progressing.status == "True" then
  hs.status = "Progressing"
  hs.message = "Rolling out: " .. (progressing.message or progressing.reason or "")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end

-- Deliberately scaled to zero: nothing to wait for, nothing broken.
if ready ~= nil and ready.reason == "ScaledToZero" then
  hs.status = "Suspended"
  hs.message = ready.message or "Scaled to zero"
  return hs
end

-- Deploying, RollingOut or not yet reported: still converging.
hs.status = "Progressing"
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  hs.message = ready.message
else
  hs.message = "Waiting for the detector to become ready"
end
return hs
