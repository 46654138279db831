-- Argo CD action "refresh": sets berth.dev/refresh to the current UTC time, a
-- new value, so berth reconciles the object now. See docs/argocd-flux.md.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["berth.dev/refresh"] = os.date("!%Y-%m-%dT%XZ")
return obj
