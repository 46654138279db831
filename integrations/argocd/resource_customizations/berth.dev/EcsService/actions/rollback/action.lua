-- Argo CD action "rollback": sets berth.dev/rollback to the current UTC time, a
-- new value, so berth rolls back the ECS deployment in progress
-- (StopServiceDeployment ROLLBACK). With no deployment in progress berth does
-- nothing but say so in a Warning Event. See docs/argocd-flux.md.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["berth.dev/rollback"] = os.date("!%Y-%m-%dT%XZ")
return obj
