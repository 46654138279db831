-- Argo CD action "resume": removes berth.dev/paused; berth acts on the object
-- again at once. See docs/argocd-flux.md.
if obj.metadata.annotations ~= nil then
  obj.metadata.annotations["berth.dev/paused"] = nil
end
return obj
