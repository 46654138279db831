//! DB cluster snapshots: Create/Describe/DeleteDBClusterSnapshot.

use super::*;

impl RdsState {
    pub(super) fn create_snapshot(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let sid = p
            .required("DBClusterSnapshotIdentifier")?
            .to_ascii_lowercase();
        validate_identifier("DBClusterSnapshotIdentifier", &sid, 63)?;
        let c = self.cluster(p.required("DBClusterIdentifier")?)?;
        if c.status != "available" {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!(
                    "Cannot create a snapshot because DB cluster {} is in {} state.",
                    c.id, c.status
                ),
            ));
        }
        if self.snapshots.contains_key(&sid) {
            return Err(AwsError::client(
                "DBClusterSnapshotAlreadyExistsFault",
                format!("Cannot create the cluster snapshot because one with the identifier {sid} already exists."),
            ));
        }
        let mut tags = if c.copy_tags_to_snapshot {
            c.tags.clone()
        } else {
            Vec::new()
        };
        merge_tags(&mut tags, p.tags()?);
        let snap = snapshot_of(ctx, c, &sid, tags);
        render_snapshot(ctx, x, &snap);
        self.snapshots.insert(sid, snap);
        Ok(())
    }

    pub(super) fn describe_snapshots(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let (start, max) = p.page()?;
        let mut snaps: Vec<&Snapshot> = match p.str("DBClusterSnapshotIdentifier") {
            Some(sid) => vec![self.snapshot(sid)?],
            None => self.snapshots.values().collect(),
        };
        if let Some(cid) = p.str("DBClusterIdentifier") {
            let cid = last_arn_segment(cid, "cluster:").to_ascii_lowercase();
            snaps.retain(|s| s.cluster_id == cid);
        }
        if let Some(t) = p.str("SnapshotType") {
            snaps.retain(|s| s.snapshot_type == t);
        }
        for (name, values) in p.filters()? {
            match name.as_str() {
                "db-cluster-id" => snaps.retain(|s| {
                    values.iter().any(|v| {
                        last_arn_segment(v, "cluster:").eq_ignore_ascii_case(&s.cluster_id)
                    })
                }),
                "db-cluster-snapshot-id" => snaps.retain(|s| values.contains(&s.id)),
                "snapshot-type" => snaps.retain(|s| values.contains(&s.snapshot_type)),
                "engine" => snaps.retain(|s| values.contains(&s.engine)),
                _ => return Err(invalid(format!("Unrecognized filter name: {name}"))),
            }
        }
        let page = page(&snaps, start, max);
        x.open("DBClusterSnapshots");
        for s in page.items {
            render_snapshot(ctx, x, s);
        }
        x.close("DBClusterSnapshots");
        x.opt("Marker", page.next.as_deref());
        Ok(())
    }

    pub(super) fn delete_snapshot(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let sid = self
            .snapshot(p.required("DBClusterSnapshotIdentifier")?)?
            .id
            .clone();
        let mut s = self.snapshots.remove(&sid).expect("looked up above");
        s.status = "deleted".to_string();
        render_snapshot(ctx, x, &s);
        Ok(())
    }

    pub(super) fn snapshot(&self, sid: &str) -> AwsResult<&Snapshot> {
        let key = last_arn_segment(sid, "cluster-snapshot:").to_ascii_lowercase();
        self.snapshots.get(&key).ok_or_else(|| {
            AwsError::not_found(
                "DBClusterSnapshotNotFoundFault",
                format!("DBClusterSnapshot {sid} not found."),
            )
        })
    }
}

pub(super) fn snapshot_of(
    ctx: &Ctx,
    c: &Cluster,
    sid: &str,
    tags: Vec<(String, String)>,
) -> Snapshot {
    Snapshot {
        id: sid.to_string(),
        arn: ctx.arn("rds", &format!("cluster-snapshot:{sid}")),
        cluster_id: c.id.clone(),
        cluster_resource_id: c.resource_id.clone(),
        cluster_created: c.created,
        engine: c.engine.clone(),
        engine_version: c.engine_version.clone(),
        master_username: c.master_username.clone(),
        port: c.port,
        vpc_id: c.vpc_id.clone(),
        storage_encrypted: c.storage_encrypted,
        kms_key_id: c.kms_key_id.clone(),
        iam_auth: c.iam_auth,
        snapshot_type: "manual".to_string(),
        tags,
        status: "creating".to_string(),
        until: ctx.now + SNAPSHOT_SECS,
        created: ctx.now,
    }
}

pub(super) fn render_snapshot(ctx: &Ctx, x: &mut Xml, s: &Snapshot) {
    x.open("DBClusterSnapshot")
        .strings("AvailabilityZones", "AvailabilityZone", &azs(ctx))
        .text("DBClusterSnapshotIdentifier", &s.id)
        .text("DBClusterIdentifier", &s.cluster_id)
        .time("SnapshotCreateTime", s.created)
        .text("Engine", &s.engine)
        .text("EngineMode", "provisioned")
        .val("AllocatedStorage", 0)
        .text("Status", &s.status)
        .val("Port", s.port)
        .text("VpcId", &s.vpc_id)
        .time("ClusterCreateTime", s.cluster_created)
        .text("MasterUsername", &s.master_username)
        .text("EngineVersion", &s.engine_version)
        .text(
            "LicenseModel",
            if s.engine == "aurora-postgresql" {
                "postgresql-license"
            } else {
                "general-public-license"
            },
        )
        .text("SnapshotType", &s.snapshot_type)
        .val(
            "PercentProgress",
            if s.status == "creating" { 0 } else { 100 },
        )
        .val("StorageEncrypted", s.storage_encrypted)
        .opt("KmsKeyId", s.kms_key_id.as_deref())
        .text("DBClusterSnapshotArn", &s.arn)
        .val("IAMDatabaseAuthenticationEnabled", s.iam_auth)
        .tags("TagList", &s.tags)
        .text("DbClusterResourceId", &s.cluster_resource_id)
        .close("DBClusterSnapshot");
}
