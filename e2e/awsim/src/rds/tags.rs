//! Add/Remove/ListTagsForResource over every taggable RDS resource.

use super::*;

impl RdsState {
    pub(super) fn tags_mut(
        &mut self,
        ctx: &Ctx,
        arn: &str,
    ) -> AwsResult<&mut Vec<(String, String)>> {
        let prefix = format!("arn:aws:rds:{}:{}:", ctx.region, ctx.account_id);
        let rest = arn.strip_prefix(&prefix).ok_or_else(|| {
            invalid(format!(
                "The specified resource name {arn} does not match an RDS resource in this region."
            ))
        })?;
        let (kind, id) = rest.split_once(':').unwrap_or((rest, ""));
        let missing =
            |code: &str, what: &str| AwsError::not_found(code, format!("{what} {id} not found."));
        match kind {
            "cluster" => self
                .clusters
                .get_mut(id)
                .map(|c| &mut c.tags)
                .ok_or_else(|| missing("DBClusterNotFoundFault", "DBCluster")),
            "db" => self
                .instances
                .get_mut(id)
                .map(|i| &mut i.tags)
                .ok_or_else(|| missing("DBInstanceNotFound", "DBInstance")),
            "subgrp" => self
                .subnet_groups
                .get_mut(id)
                .map(|g| &mut g.tags)
                .ok_or_else(|| missing("DBSubnetGroupNotFoundFault", "DBSubnetGroup")),
            "db-proxy" => self
                .proxies
                .values_mut()
                .find(|p| p.arn == arn)
                .map(|p| &mut p.tags)
                .ok_or_else(|| missing("DBProxyNotFoundFault", "DBProxy")),
            "cluster-snapshot" => self
                .snapshots
                .get_mut(id)
                .map(|s| &mut s.tags)
                .ok_or_else(|| missing("DBClusterSnapshotNotFoundFault", "DBClusterSnapshot")),
            _ => Err(invalid(format!(
                "The specified resource name {arn} does not match an RDS resource in this region."
            ))),
        }
    }

    pub(super) fn add_tags(&mut self, ctx: &Ctx, p: &Params) -> AwsResult<()> {
        let arn = p.required("ResourceName")?.to_string();
        let new = p.tags()?;
        let tags = self.tags_mut(ctx, &arn)?;
        let mut merged = tags.clone();
        merge_tags(&mut merged, new);
        // A rejected request must leave the existing tags untouched.
        if merged.len() > 50 {
            return Err(AwsError::client(
                "TagQuotaPerResourceExceeded",
                "A resource can have at most 50 tags.",
            ));
        }
        *tags = merged;
        Ok(())
    }

    pub(super) fn remove_tags(&mut self, ctx: &Ctx, p: &Params) -> AwsResult<()> {
        let arn = p.required("ResourceName")?.to_string();
        let keys = p.list("TagKeys", "member").unwrap_or_default();
        let tags = self.tags_mut(ctx, &arn)?;
        tags.retain(|(k, _)| !keys.contains(k));
        Ok(())
    }

    pub(super) fn list_tags(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let arn = p.required("ResourceName")?.to_string();
        let tags = self.tags_mut(ctx, &arn)?;
        x.tags("TagList", tags);
        Ok(())
    }
}
