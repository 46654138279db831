-- Argo CD action "pause": sets berth.dev/paused to "true", so berth makes no
-- AWS changes for this object until "resume". See docs/argocd-flux.md.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["berth.dev/paused"] = "true"
return obj
