-- Argo CD action "rerun": sets berth.dev/refresh to the current UTC time, a new
-- value, so berth starts a new try of the Failed run with a fresh backoffLimit.
-- See docs/argocd-flux.md.
--
-- Refused unless berth's status says the current spec's run Failed: berth
-- remembers only the value that restarted a run, so a value set earlier would
-- restart that run (or a later one) by itself the moment it fails. Argo CD
-- does not enforce a disabled action, so the check is here too.
local os = require("os")
local status = obj.status
local generation = obj.metadata.generation
if status == nil or status.phase ~= "Failed" then
  error("rerun: only a Failed MigrationJob can run again", 0)
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  error("rerun: berth has not reported on the current spec yet; wait for it", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["berth.dev/refresh"] = os.date("!%Y-%m-%dT%XZ")
return obj
