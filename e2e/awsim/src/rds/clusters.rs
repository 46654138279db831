//! Aurora DB clusters: Create/Describe/Modify/DeleteDBCluster, with the
//! managed master user secret.

use super::*;

impl RdsState {
    pub(super) fn create_cluster(
        &mut self,
        ctx: &Ctx,
        p: &Params,
        secrets: &mut dyn SecretStore,
        x: &mut Xml,
    ) -> AwsResult<()> {
        // "This parameter is stored as a lowercase string."
        let id = p.required("DBClusterIdentifier")?.to_ascii_lowercase();
        validate_identifier("DBClusterIdentifier", &id, 63)?;
        let engine = p.required("Engine")?.to_string();
        let (default_version, default_port) = match engine.as_str() {
            "aurora-postgresql" => ("16.4", 5432),
            "aurora-mysql" => ("8.0.mysql_aurora.3.08.0", 3306),
            other => {
                return Err(invalid(format!(
                    "Invalid DB engine: {other}. awsim supports aurora-postgresql and aurora-mysql."
                )))
            }
        };
        let engine_version = p
            .string("EngineVersion")
            .unwrap_or_else(|| default_version.to_string());
        validate_engine_version(&engine, &engine_version)?;
        if self.clusters.contains_key(&id) {
            return Err(AwsError::client(
                "DBClusterAlreadyExistsFault",
                format!("DB Cluster {id} already exists"),
            ));
        }
        let master_username = match p.str("MasterUsername") {
            Some(u) if !u.is_empty() => u.to_string(),
            _ => {
                return Err(invalid(
                    "The parameter MasterUsername must be provided and must not be blank.",
                ))
            }
        };
        validate_master_username(&master_username)?;
        let manage = p.bool("ManageMasterUserPassword")?.unwrap_or(false);
        let password = p.string("MasterUserPassword");
        match (&password, manage) {
            (Some(_), true) => {
                return Err(combination(
                    "You can't specify MasterUserPassword and ManageMasterUserPassword together.",
                ))
            }
            (None, false) => {
                return Err(invalid(
                    "The parameter MasterUserPassword must be provided and must not be blank, unless ManageMasterUserPassword is true.",
                ))
            }
            (Some(pw), false) => validate_password(pw)?,
            (None, true) => {}
        }
        if p.str("MasterUserSecretKmsKeyId").is_some() && !manage {
            return Err(combination(
                "MasterUserSecretKmsKeyId requires ManageMasterUserPassword to be true.",
            ));
        }
        let database_name = p.string("DatabaseName");
        if let Some(db) = &database_name {
            validate_database_name(db)?;
        }
        let subnet_group = match p.str("DBSubnetGroupName") {
            Some(name) => self.subnet_group(name)?.name.clone(),
            None => "default".to_string(),
        };
        let scaling = scaling_config(p)?;
        let backup_retention = p.int("BackupRetentionPeriod")?.unwrap_or(1);
        if !(1..=35).contains(&backup_retention) {
            return Err(invalid(format!(
                "Invalid backup retention period {backup_retention}: must be between 1 and 35 days."
            )));
        }
        let port = p.int("Port")?.unwrap_or(default_port);
        if !(1150..=65535).contains(&port) {
            return Err(invalid(format!(
                "Invalid port {port}: must be between 1150 and 65535."
            )));
        }
        let tags = p.tags()?;
        let kms_key_id = p.string("KmsKeyId");
        let storage_encrypted =
            p.bool("StorageEncrypted")?.unwrap_or(false) || kms_key_id.is_some();
        let kms_key_id = match (storage_encrypted, kms_key_id) {
            (true, None) => Some(default_kms_key(ctx, "rds")),
            (_, k) => k,
        };
        let security_groups = p
            .list("VpcSecurityGroupIds", "VpcSecurityGroupId")
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| vec![default_security_group(ctx)]);
        let arn = ctx.arn("rds", &format!("cluster:{id}"));
        let master_secret = if manage {
            let kms_key_id = p
                .string("MasterUserSecretKmsKeyId")
                .unwrap_or_else(|| default_kms_key(ctx, "secretsmanager"));
            Some(create_master_secret(
                ctx,
                secrets,
                &arn,
                &master_username,
                kms_key_id,
            ))
        } else {
            None
        };
        let vpc_id = self
            .subnet_groups
            .get(&subnet_group)
            .map(|g| g.vpc_id.clone())
            .unwrap_or_else(|| vpc_of(ctx));
        let cluster = Cluster {
            id: id.clone(),
            arn,
            resource_id: format!("cluster-{}", random_upper(26)),
            engine,
            engine_version,
            database_name,
            master_username,
            master_password: password,
            master_secret,
            iam_auth: p.bool("EnableIAMDatabaseAuthentication")?.unwrap_or(false),
            scaling,
            subnet_group,
            vpc_id,
            security_groups,
            storage_encrypted,
            kms_key_id,
            backup_retention,
            deletion_protection: p.bool("DeletionProtection")?.unwrap_or(false),
            copy_tags_to_snapshot: p.bool("CopyTagsToSnapshot")?.unwrap_or(false),
            port,
            tags,
            status: "creating".to_string(),
            until: ctx.now + CLUSTER_CREATE_SECS,
            created: ctx.now,
        };
        self.render_cluster(ctx, x, &cluster);
        self.clusters.insert(id, cluster);
        Ok(())
    }

    pub(super) fn describe_clusters(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let (start, max) = p.page()?;
        let filters = p.filters()?;
        let mut clusters: Vec<&Cluster> = match p.str("DBClusterIdentifier") {
            Some(id) => vec![self.cluster(id)?],
            None => self.clusters.values().collect(),
        };
        for (name, values) in &filters {
            clusters.retain(|c| match name.as_str() {
                "db-cluster-id" => values
                    .iter()
                    .any(|v| last_arn_segment(v, "cluster:").eq_ignore_ascii_case(&c.id)),
                "db-cluster-resource-id" => values.contains(&c.resource_id),
                "engine" => values.contains(&c.engine),
                _ => true,
            });
            if !matches!(
                name.as_str(),
                "db-cluster-id" | "db-cluster-resource-id" | "engine" | "clone-group-id" | "domain"
            ) {
                return Err(invalid(format!("Unrecognized filter name: {name}")));
            }
        }
        let page = page(&clusters, start, max);
        x.open("DBClusters");
        for c in page.items {
            self.render_cluster(ctx, x, c);
        }
        x.close("DBClusters");
        x.opt("Marker", page.next.as_deref());
        Ok(())
    }

    pub(super) fn modify_cluster(
        &mut self,
        ctx: &Ctx,
        p: &Params,
        secrets: &mut dyn SecretStore,
        x: &mut Xml,
    ) -> AwsResult<()> {
        let id = self.cluster(p.required("DBClusterIdentifier")?)?.id.clone();
        if p.str("NewDBClusterIdentifier").is_some() {
            return Err(invalid(
                "awsim does not simulate renaming DB clusters (NewDBClusterIdentifier).",
            ));
        }
        let scaling = scaling_config(p)?;
        let backup_retention = p.int("BackupRetentionPeriod")?;
        if let Some(b) = backup_retention {
            if !(1..=35).contains(&b) {
                return Err(invalid(format!(
                    "Invalid backup retention period {b}: must be between 1 and 35 days."
                )));
            }
        }
        let manage = p.bool("ManageMasterUserPassword")?;
        let password = p.string("MasterUserPassword");
        if let Some(pw) = &password {
            validate_password(pw)?;
        }
        let rotate = p.bool("RotateMasterUserPassword")?.unwrap_or(false);
        let apply_immediately = p.bool("ApplyImmediately")?.unwrap_or(false);
        let security_groups = p.list("VpcSecurityGroupIds", "VpcSecurityGroupId");
        let iam_auth = p.bool("EnableIAMDatabaseAuthentication")?;
        let deletion_protection = p.bool("DeletionProtection")?;
        let copy_tags = p.bool("CopyTagsToSnapshot")?;
        let engine_version = p.string("EngineVersion");
        let allow_major = p.bool("AllowMajorVersionUpgrade")?.unwrap_or(false);
        let port = p.int("Port")?;

        let c = self.clusters.get(&id).expect("looked up above");
        // A change on top of one RDS is still applying is refused, never
        // queued: "InvalidDBClusterStateFault: The requested operation
        // can't be performed while the cluster is in this state." (HTTP
        // 400, ModifyDBCluster "Errors",
        // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html#API_ModifyDBCluster_Errors).
        if c.status != "available" {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!(
                    "DB cluster {id} is not available for modification with status {}",
                    c.status
                ),
            ));
        }
        let managed = c.master_secret.is_some();
        if password.is_some() && (manage == Some(true) || (managed && manage != Some(false))) {
            return Err(combination(
                "You can't specify MasterUserPassword for a DB cluster whose master user password is managed by Secrets Manager (ManageMasterUserPassword).",
            ));
        }
        if manage == Some(false) && managed && password.is_none() {
            return Err(combination(
                "You must specify MasterUserPassword when you turn off ManageMasterUserPassword.",
            ));
        }
        if rotate && (!apply_immediately || !(managed || manage == Some(true))) {
            return Err(combination(
                "RotateMasterUserPassword requires ApplyImmediately and a master user password managed by Secrets Manager.",
            ));
        }
        if let Some(v) = &engine_version {
            validate_engine_version(&c.engine, v)?;
            let (cur, new) = (version_key(&c.engine_version), version_key(v));
            if new < cur {
                return Err(combination(format!(
                    "Cannot upgrade {} from {} to {v}",
                    c.engine, c.engine_version
                )));
            }
            if new.first() != cur.first() && !allow_major {
                return Err(combination(
                    "The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version.",
                ));
            }
        }
        if let Some(port) = port {
            if !(1150..=65535).contains(&port) {
                return Err(invalid(format!(
                    "Invalid port {port}: must be between 1150 and 65535."
                )));
            }
        }
        let cluster_arn = c.arn.clone();
        let username = c.master_username.clone();

        let c = self.clusters.get_mut(&id).expect("looked up above");
        let mut changed = false;
        if let Some(s) = scaling {
            if c.scaling != Some(s) {
                c.scaling = Some(s);
                changed = true;
            }
        }
        if let Some(b) = backup_retention {
            if c.backup_retention != b {
                c.backup_retention = b;
                changed = true;
            }
        }
        if let Some(sgs) = security_groups {
            let sgs = if sgs.is_empty() {
                vec![default_security_group(ctx)]
            } else {
                sgs
            };
            if c.security_groups != sgs {
                c.security_groups = sgs;
                changed = true;
            }
        }
        if let Some(v) = iam_auth {
            if c.iam_auth != v {
                c.iam_auth = v;
                changed = true;
            }
        }
        if let Some(v) = deletion_protection {
            c.deletion_protection = v;
        }
        if let Some(v) = copy_tags {
            c.copy_tags_to_snapshot = v;
        }
        if let Some(v) = port {
            if c.port != v {
                c.port = v;
                changed = true;
            }
        }
        if let Some(v) = engine_version {
            // Without ApplyImmediately AWS waits for the maintenance window;
            // awsim has none, so the upgrade starts now either way.
            if c.engine_version != v {
                c.engine_version = v;
                changed = true;
            }
        }
        if let Some(pw) = password {
            c.master_password = Some(pw);
            changed = true;
        }
        match manage {
            Some(true) if c.master_secret.is_none() => {
                let kms_key_id = p
                    .string("MasterUserSecretKmsKeyId")
                    .unwrap_or_else(|| default_kms_key(ctx, "secretsmanager"));
                c.master_secret = Some(create_master_secret(
                    ctx,
                    secrets,
                    &cluster_arn,
                    &username,
                    kms_key_id,
                ));
                c.master_password = None;
                changed = true;
            }
            Some(false) => {
                if let Some(s) = c.master_secret.take() {
                    secrets.delete_secret(&s.arn);
                    changed = true;
                }
            }
            _ => {}
        }
        if changed {
            c.status = "modifying".to_string();
            c.until = ctx.now + MODIFY_SECS;
        }
        let c = self.clusters.get(&id).expect("looked up above");
        self.render_cluster(ctx, x, c);
        Ok(())
    }

    pub(super) fn delete_cluster(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let id = self.cluster(p.required("DBClusterIdentifier")?)?.id.clone();
        let skip = p.bool("SkipFinalSnapshot")?.unwrap_or(false);
        let final_id = p
            .str("FinalDBSnapshotIdentifier")
            .map(str::to_ascii_lowercase);
        let c = &self.clusters[&id];
        if c.status == "deleting" {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!("DB cluster {id} is already being deleted."),
            ));
        }
        if c.deletion_protection {
            return Err(combination(
                "Cannot delete protected Cluster, please disable deletion protection and try again.",
            ));
        }
        if let Some(i) = self
            .instances
            .values()
            .find(|i| i.cluster_id == id && i.status != "deleting")
        {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!(
                    "Cluster cannot be deleted, it still contains DB instances in non-deleting state ({}).",
                    i.id
                ),
            ));
        }
        match (skip, &final_id) {
            (true, Some(_)) => {
                return Err(combination(
                    "FinalDBSnapshotIdentifier can not be specified when deleting a cluster with SkipFinalSnapshot enabled.",
                ))
            }
            (false, None) => {
                return Err(invalid(
                    "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.",
                ))
            }
            _ => {}
        }
        if let Some(sid) = &final_id {
            validate_identifier("FinalDBSnapshotIdentifier", sid, 255)?;
            if self.snapshots.contains_key(sid) {
                return Err(AwsError::client(
                    "DBClusterSnapshotAlreadyExistsFault",
                    format!("Cannot create the cluster snapshot because one with the identifier {sid} already exists."),
                ));
            }
            let tags = if c.copy_tags_to_snapshot {
                c.tags.clone()
            } else {
                Vec::new()
            };
            let snap = snapshot_of(ctx, c, sid, tags);
            self.snapshots.insert(sid.clone(), snap);
        }
        let c = self.clusters.get_mut(&id).expect("looked up above");
        c.status = "deleting".to_string();
        c.until = ctx.now + DELETE_SECS;
        let c = &self.clusters[&id];
        self.render_cluster(ctx, x, c);
        Ok(())
    }

    pub(super) fn cluster(&self, id: &str) -> AwsResult<&Cluster> {
        let key = last_arn_segment(id, "cluster:").to_ascii_lowercase();
        self.clusters.get(&key).ok_or_else(|| {
            AwsError::not_found(
                "DBClusterNotFoundFault",
                format!("DBCluster {id} not found."),
            )
        })
    }

    pub(super) fn members(&self, cluster_id: &str) -> Vec<&Instance> {
        let mut members: Vec<&Instance> = self
            .instances
            .values()
            .filter(|i| i.cluster_id == cluster_id)
            .collect();
        members.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.id.cmp(&b.id)));
        members
    }

    /// The writer is the oldest member; AWS fails over similarly when the
    /// writer goes away.
    pub(super) fn writer_of(&self, cluster_id: &str) -> Option<String> {
        self.members(cluster_id)
            .into_iter()
            .find(|i| i.status != "deleting")
            .map(|i| i.id.clone())
    }

    pub(super) fn render_cluster(&self, ctx: &Ctx, x: &mut Xml, c: &Cluster) {
        let h = account_hash(ctx);
        let writer = self.writer_of(&c.id);
        let members = self.members(&c.id);
        x.open("DBCluster");
        x.val("AllocatedStorage", 1);
        x.strings("AvailabilityZones", "AvailabilityZone", &azs(ctx));
        x.val("BackupRetentionPeriod", c.backup_retention);
        x.opt("DatabaseName", c.database_name.as_deref());
        x.text("DBClusterIdentifier", &c.id);
        x.text("DBClusterParameterGroup", &parameter_group_family(c));
        x.text("DBSubnetGroup", &c.subnet_group);
        x.text("Status", &c.status);
        x.time("EarliestRestorableTime", c.created);
        x.text(
            "Endpoint",
            &format!("{}.cluster-{h}.{}.rds.amazonaws.com", c.id, ctx.region),
        );
        x.text(
            "ReaderEndpoint",
            &format!("{}.cluster-ro-{h}.{}.rds.amazonaws.com", c.id, ctx.region),
        );
        x.val("MultiAZ", members.len() > 1);
        x.text("Engine", &c.engine);
        x.text("EngineVersion", &c.engine_version);
        x.time("LatestRestorableTime", ctx.now);
        x.val("Port", c.port);
        x.text("MasterUsername", &c.master_username);
        x.text("PreferredBackupWindow", "07:00-07:30");
        x.text("PreferredMaintenanceWindow", "sun:05:00-sun:05:30");
        x.open("ReadReplicaIdentifiers")
            .close("ReadReplicaIdentifiers");
        x.list("DBClusterMembers", "DBClusterMember", members, |x, i| {
            x.text("DBInstanceIdentifier", &i.id)
                .val("IsClusterWriter", writer.as_deref() == Some(i.id.as_str()))
                .text("DBClusterParameterGroupStatus", "in-sync")
                .val("PromotionTier", i.promotion_tier);
        });
        render_security_groups(x, &c.security_groups);
        x.text("HostedZoneId", hosted_zone(ctx));
        x.val("StorageEncrypted", c.storage_encrypted);
        x.opt("KmsKeyId", c.kms_key_id.as_deref());
        x.text("DbClusterResourceId", &c.resource_id);
        x.text("DBClusterArn", &c.arn);
        x.open("AssociatedRoles").close("AssociatedRoles");
        x.val("IAMDatabaseAuthenticationEnabled", c.iam_auth);
        x.time("ClusterCreateTime", c.created);
        x.text("EngineMode", "provisioned");
        x.val("DeletionProtection", c.deletion_protection);
        x.val("HttpEndpointEnabled", false);
        x.val("CopyTagsToSnapshot", c.copy_tags_to_snapshot);
        x.val("CrossAccountClone", false);
        x.open("DomainMemberships").close("DomainMemberships");
        x.tags("TagList", &c.tags);
        x.val("AutoMinorVersionUpgrade", true);
        x.text("NetworkType", "IPV4");
        if let Some((min, max)) = c.scaling {
            x.open("ServerlessV2ScalingConfiguration")
                .val("MinCapacity", min)
                .val("MaxCapacity", max)
                .close("ServerlessV2ScalingConfiguration");
            x.text("ServerlessV2PlatformVersion", "2");
        }
        if let Some(s) = &c.master_secret {
            x.open("MasterUserSecret")
                .text("SecretArn", &s.arn)
                .text("SecretStatus", "active")
                .text("KmsKeyId", &s.kms_key_id)
                .close("MasterUserSecret");
        }
        x.text("EngineLifecycleSupport", "open-source-rds-extended-support");
        x.close("DBCluster");
    }
}

pub(super) fn parameter_group_family(c: &Cluster) -> String {
    match c.engine.as_str() {
        "aurora-postgresql" => {
            let major = c.engine_version.split('.').next().unwrap_or("16");
            format!("default.aurora-postgresql{major}")
        }
        _ => "default.aurora-mysql8.0".to_string(),
    }
}

/// `ServerlessV2ScalingConfiguration.{MinCapacity,MaxCapacity}`: ACUs in
/// steps of 0.5, 0 <= min <= max, 1 <= max <= 256.
pub(super) fn scaling_config(p: &Params) -> AwsResult<Option<(f64, f64)>> {
    let min = p.float("ServerlessV2ScalingConfiguration.MinCapacity")?;
    let max = p.float("ServerlessV2ScalingConfiguration.MaxCapacity")?;
    let (min, max) = match (min, max) {
        (None, None) => return Ok(None),
        (Some(min), Some(max)) => (min, max),
        _ => {
            return Err(invalid(
                "ServerlessV2ScalingConfiguration requires both MinCapacity and MaxCapacity.",
            ))
        }
    };
    let half_step = |v: f64| (v * 2.0).fract() == 0.0;
    if !(0.0..=256.0).contains(&min) || !half_step(min) {
        return Err(invalid(format!(
            "Serverless v2 MinCapacity {min} isn't valid: it must be between 0 and 256 ACUs in increments of 0.5."
        )));
    }
    if !(1.0..=256.0).contains(&max) || !half_step(max) {
        return Err(invalid(format!(
            "Serverless v2 MaxCapacity {max} isn't valid: it must be between 1 and 256 ACUs in increments of 0.5."
        )));
    }
    if min > max {
        return Err(invalid(format!(
            "Serverless v2 MinCapacity {min} must be less than or equal to MaxCapacity {max}."
        )));
    }
    Ok(Some((min, max)))
}

pub(super) fn create_master_secret(
    ctx: &Ctx,
    secrets: &mut dyn SecretStore,
    cluster_arn: &str,
    username: &str,
    kms_key_id: String,
) -> MasterSecret {
    let name = format!("rds!cluster-{}", crate::util::uuid());
    let secret = serde_json::json!({
        "username": username,
        "password": random_password(32),
    });
    let tags = vec![
        (
            "aws:rds:primaryDBClusterArn".to_string(),
            cluster_arn.to_string(),
        ),
        (
            "aws:secretsmanager:owningService".to_string(),
            "rds".to_string(),
        ),
    ];
    let arn = secrets.create_managed_secret(ctx, &name, &secret.to_string(), &tags);
    MasterSecret { arn, kms_key_id }
}
