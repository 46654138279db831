//! DB instances (cluster members): Create/Describe/Modify/DeleteDBInstance.

use super::*;

impl RdsState {
    pub(super) fn create_instance(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let id = p.required("DBInstanceIdentifier")?.to_ascii_lowercase();
        validate_identifier("DBInstanceIdentifier", &id, 63)?;
        let class = p.required("DBInstanceClass")?.to_string();
        validate_instance_class(&class)?;
        let engine = p.required("Engine")?.to_string();
        if !engine.starts_with("aurora") {
            return Err(invalid(format!(
                "awsim simulates Aurora only; engine {engine} is not supported."
            )));
        }
        let Some(cluster_id) = p.str("DBClusterIdentifier") else {
            return Err(combination(format!(
                "DBClusterIdentifier is required for {engine} DB instances."
            )));
        };
        let cluster = self.cluster(cluster_id)?;
        if self.instances.contains_key(&id) {
            return Err(AwsError::client(
                "DBInstanceAlreadyExists",
                format!("DB instance already exists: {id}"),
            ));
        }
        if cluster.status == "deleting" {
            return Err(AwsError::client(
                "InvalidDBClusterStateFault",
                format!("DB cluster {} is being deleted.", cluster.id),
            ));
        }
        if engine != cluster.engine {
            return Err(combination(format!(
                "The engine name requested for your DB instance ({engine}) doesn't match the engine name of your DB cluster ({}).",
                cluster.engine
            )));
        }
        for (field, what) in [
            ("MasterUsername", "master username"),
            ("MasterUserPassword", "master user password"),
        ] {
            if p.str(field).is_some() {
                return Err(combination(format!(
                    "The requested DB instance will be a member of a DB cluster. Set the {what} on the DB cluster."
                )));
            }
        }
        if class == "db.serverless" && cluster.scaling.is_none() {
            return Err(combination(format!(
                "The DB cluster {} has no ServerlessV2ScalingConfiguration, so it can't contain db.serverless DB instances.",
                cluster.id
            )));
        }
        let promotion_tier = p.int("PromotionTier")?.unwrap_or(1);
        if !(0..=15).contains(&promotion_tier) {
            return Err(invalid("PromotionTier must be between 0 and 15."));
        }
        let azs = azs(ctx);
        let instance = Instance {
            arn: ctx.arn("rds", &format!("db:{id}")),
            resource_id: format!("db-{}", random_upper(26)),
            cluster_id: cluster.id.clone(),
            class,
            engine,
            promotion_tier,
            publicly_accessible: p.bool("PubliclyAccessible")?.unwrap_or(false),
            availability_zone: p
                .string("AvailabilityZone")
                .unwrap_or_else(|| azs[self.instances.len() % azs.len()].clone()),
            tags: p.tags()?,
            status: "creating".to_string(),
            until: ctx.now + INSTANCE_CREATE_SECS,
            created: ctx.now,
            id: id.clone(),
        };
        self.instances.insert(id.clone(), instance);
        self.render_instance(ctx, x, &self.instances[&id]);
        Ok(())
    }

    pub(super) fn describe_instances(&self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let (start, max) = p.page()?;
        let filters = p.filters()?;
        let mut instances: Vec<&Instance> = match p.str("DBInstanceIdentifier") {
            Some(id) => vec![self.instance(id)?],
            None => self.instances.values().collect(),
        };
        for (name, values) in &filters {
            let keep: Box<dyn Fn(&Instance) -> bool> = match name.as_str() {
                "db-cluster-id" => Box::new(|i: &Instance| {
                    values.iter().any(|v| {
                        last_arn_segment(v, "cluster:").eq_ignore_ascii_case(&i.cluster_id)
                    })
                }),
                "db-instance-id" => Box::new(|i: &Instance| {
                    values
                        .iter()
                        .any(|v| last_arn_segment(v, "db:").eq_ignore_ascii_case(&i.id))
                }),
                "dbi-resource-id" => Box::new(|i: &Instance| values.contains(&i.resource_id)),
                "engine" => Box::new(|i: &Instance| values.contains(&i.engine)),
                "domain" => Box::new(|_: &Instance| false),
                _ => return Err(invalid(format!("Unrecognized filter name: {name}"))),
            };
            instances.retain(|i| keep(i));
        }
        let page = page(&instances, start, max);
        x.open("DBInstances");
        for i in page.items {
            self.render_instance(ctx, x, i);
        }
        x.close("DBInstances");
        x.opt("Marker", page.next.as_deref());
        Ok(())
    }

    pub(super) fn modify_instance(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let id = self
            .instance(p.required("DBInstanceIdentifier")?)?
            .id
            .clone();
        let class = p.string("DBInstanceClass");
        let tier = p.int("PromotionTier")?;
        let public = p.bool("PubliclyAccessible")?;
        let i = &self.instances[&id];
        // "InvalidDBInstanceState: The DB instance isn't in a valid state."
        // (HTTP 400, ModifyDBInstance "Errors",
        // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html#API_ModifyDBInstance_Errors):
        // the error code lacks the Fault suffix of the shape's name.
        if i.status != "available" {
            return Err(AwsError::client(
                "InvalidDBInstanceState",
                format!(
                    "Database instance {id} is not in available state ({}).",
                    i.status
                ),
            ));
        }
        if let Some(class) = &class {
            validate_instance_class(class)?;
            let scaling = self.clusters.get(&i.cluster_id).and_then(|c| c.scaling);
            if class == "db.serverless" && scaling.is_none() {
                return Err(combination(format!(
                    "The DB cluster {} has no ServerlessV2ScalingConfiguration, so it can't contain db.serverless DB instances.",
                    i.cluster_id
                )));
            }
        }
        if let Some(t) = tier {
            if !(0..=15).contains(&t) {
                return Err(invalid("PromotionTier must be between 0 and 15."));
            }
        }
        let i = self.instances.get_mut(&id).expect("looked up above");
        let mut changed = false;
        if let Some(class) = class {
            if i.class != class {
                i.class = class;
                changed = true;
            }
        }
        if let Some(t) = tier {
            i.promotion_tier = t;
        }
        if let Some(v) = public {
            i.publicly_accessible = v;
        }
        if changed {
            i.status = "modifying".to_string();
            i.until = ctx.now + MODIFY_SECS;
        }
        self.render_instance(ctx, x, &self.instances[&id]);
        Ok(())
    }

    pub(super) fn delete_instance(&mut self, ctx: &Ctx, p: &Params, x: &mut Xml) -> AwsResult<()> {
        let id = self
            .instance(p.required("DBInstanceIdentifier")?)?
            .id
            .clone();
        if p.str("FinalDBSnapshotIdentifier").is_some() {
            return Err(combination(
                "FinalDBSnapshotIdentifier can't be specified for a DB instance in an Aurora DB cluster; snapshot the cluster instead.",
            ));
        }
        let i = self.instances.get_mut(&id).expect("looked up above");
        if i.status == "deleting" {
            return Err(AwsError::client(
                "InvalidDBInstanceState",
                format!("Instance {id} is already being deleted."),
            ));
        }
        i.status = "deleting".to_string();
        i.until = ctx.now + DELETE_SECS;
        self.render_instance(ctx, x, &self.instances[&id]);
        Ok(())
    }

    pub(super) fn instance(&self, id: &str) -> AwsResult<&Instance> {
        let key = last_arn_segment(id, "db:").to_ascii_lowercase();
        self.instances.get(&key).ok_or_else(|| {
            AwsError::not_found("DBInstanceNotFound", format!("DBInstance {id} not found."))
        })
    }

    pub(super) fn render_instance(&self, ctx: &Ctx, x: &mut Xml, i: &Instance) {
        let cluster = self.clusters.get(&i.cluster_id);
        x.open("DBInstance");
        x.text("DBInstanceIdentifier", &i.id);
        x.text("DBInstanceClass", &i.class);
        x.text("Engine", &i.engine);
        x.text("DBInstanceStatus", &i.status);
        if let Some(c) = cluster {
            x.text("MasterUsername", &c.master_username);
            x.opt("DBName", c.database_name.as_deref());
            // AWS assigns the instance endpoint once the instance exists.
            if i.status != "creating" {
                x.open("Endpoint")
                    .text(
                        "Address",
                        &format!(
                            "{}.{}.{}.rds.amazonaws.com",
                            i.id,
                            account_hash(ctx),
                            ctx.region
                        ),
                    )
                    .val("Port", c.port)
                    .text("HostedZoneId", hosted_zone(ctx))
                    .close("Endpoint");
                x.time("InstanceCreateTime", i.created);
            }
        }
        x.val("AllocatedStorage", 1);
        x.text("PreferredBackupWindow", "07:00-07:30");
        if let Some(c) = cluster {
            x.val("BackupRetentionPeriod", c.backup_retention);
        }
        x.open("DBSecurityGroups").close("DBSecurityGroups");
        if let Some(c) = cluster {
            render_security_groups(x, &c.security_groups);
        }
        x.text("AvailabilityZone", &i.availability_zone);
        if let Some(g) = cluster.and_then(|c| self.subnet_groups.get(&c.subnet_group)) {
            render_subnet_group(ctx, x, "DBSubnetGroup", g);
        }
        x.text("PreferredMaintenanceWindow", "sun:05:00-sun:05:30");
        x.val("MultiAZ", false);
        if let Some(c) = cluster {
            x.text("EngineVersion", &c.engine_version);
        }
        x.val("AutoMinorVersionUpgrade", true);
        x.text(
            "LicenseModel",
            if i.engine == "aurora-postgresql" {
                "postgresql-license"
            } else {
                "general-public-license"
            },
        );
        x.val("PubliclyAccessible", i.publicly_accessible);
        x.text("StorageType", "aurora");
        x.val("DbInstancePort", 0);
        x.text("DBClusterIdentifier", &i.cluster_id);
        if let Some(c) = cluster {
            x.val("StorageEncrypted", c.storage_encrypted);
            x.opt("KmsKeyId", c.kms_key_id.as_deref());
        }
        x.text("DbiResourceId", &i.resource_id);
        x.text("CACertificateIdentifier", "rds-ca-rsa2048-g1");
        x.val("CopyTagsToSnapshot", false);
        x.val("MonitoringInterval", 0);
        x.val("PromotionTier", i.promotion_tier);
        x.text("DBInstanceArn", &i.arn);
        if let Some(c) = cluster {
            x.val("IAMDatabaseAuthenticationEnabled", c.iam_auth);
        }
        x.val("PerformanceInsightsEnabled", false);
        x.val("DeletionProtection", false);
        x.tags("TagList", &i.tags);
        x.text("NetworkType", "IPV4");
        x.close("DBInstance");
    }
}

pub(super) fn render_security_groups(x: &mut Xml, sgs: &[String]) {
    x.list(
        "VpcSecurityGroups",
        "VpcSecurityGroupMembership",
        sgs,
        |x, sg| {
            x.text("VpcSecurityGroupId", sg).text("Status", "active");
        },
    );
}
