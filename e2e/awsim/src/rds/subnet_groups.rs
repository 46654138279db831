//! DB subnet groups: Create/Describe/Modify/DeleteDBSubnetGroup.

use super::*;

impl RdsState {
    pub(super) fn create_subnet_group(
        &mut self,
        ctx: &Ctx,
        p: &Params,
        x: &mut Xml,
    ) -> AwsResult<()> {
        let raw = p.required("DBSubnetGroupName")?;
        validate_subnet_group_name(raw)?;
        // AWS stores subnet group names in lowercase and matches them so.
        let name = raw.to_ascii_lowercase();
        let description = p.required("DBSubnetGroupDescription")?.to_string();
        let subnets = p.list("SubnetIds", "SubnetIdentifier").unwrap_or_default();
        validate_subnets(&subnets)?;
        let tags = p.tags()?;
        if self.subnet_groups.contains_key(&name) {
            return Err(AwsError::client(
                "DBSubnetGroupAlreadyExists",
                format!("The DB subnet group '{name}' already exists."),
            ));
        }
        let group = SubnetGroup {
            arn: ctx.arn("rds", &format!("subgrp:{name}")),
            vpc_id: vpc_of(ctx),
            name: name.clone(),
            description,
            subnets,
            tags,
        };
        render_subnet_group(ctx, x, "DBSubnetGroup", &group);
        self.subnet_groups.insert(name, group);
        Ok(())
    }

    pub(super) fn describe_subnet_groups(
        &self,
        ctx: &Ctx,
        p: &Params,
        x: &mut Xml,
    ) -> AwsResult<()> {
        let (start, max) = p.page()?;
        let groups: Vec<&SubnetGroup> = match p.str("DBSubnetGroupName") {
            Some(name) => vec![self.subnet_group(name)?],
            None => self.subnet_groups.values().collect(),
        };
        let page = page(&groups, start, max);
        x.open("DBSubnetGroups");
        for g in page.items {
            render_subnet_group(ctx, x, "DBSubnetGroup", g);
        }
        x.close("DBSubnetGroups");
        x.opt("Marker", page.next.as_deref());
        Ok(())
    }

    pub(super) fn modify_subnet_group(
        &mut self,
        ctx: &Ctx,
        p: &Params,
        x: &mut Xml,
    ) -> AwsResult<()> {
        let name = self
            .subnet_group(p.required("DBSubnetGroupName")?)?
            .name
            .clone();
        let subnets = p.list("SubnetIds", "SubnetIdentifier").unwrap_or_default();
        validate_subnets(&subnets)?;
        let group = self.subnet_groups.get_mut(&name).expect("looked up above");
        if let Some(d) = p.string("DBSubnetGroupDescription") {
            group.description = d;
        }
        group.subnets = subnets;
        render_subnet_group(ctx, x, "DBSubnetGroup", group);
        Ok(())
    }

    pub(super) fn delete_subnet_group(&mut self, p: &Params) -> AwsResult<()> {
        let name = self
            .subnet_group(p.required("DBSubnetGroupName")?)?
            .name
            .clone();
        if let Some(c) = self.clusters.values().find(|c| c.subnet_group == name) {
            return Err(AwsError::client(
                "InvalidDBSubnetGroupStateFault",
                format!(
                    "Cannot delete the subnet group '{name}' because at least one database cluster: {} is still using it.",
                    c.id
                ),
            ));
        }
        self.subnet_groups.remove(&name);
        Ok(())
    }

    pub(super) fn subnet_group(&self, name: &str) -> AwsResult<&SubnetGroup> {
        let key = last_arn_segment(name, "subgrp:").to_ascii_lowercase();
        self.subnet_groups.get(&key).ok_or_else(|| {
            AwsError::not_found(
                "DBSubnetGroupNotFoundFault",
                format!("DBSubnetGroup {name} not found."),
            )
        })
    }
}

pub(super) fn render_subnet_group(ctx: &Ctx, x: &mut Xml, tag: &str, g: &SubnetGroup) {
    let azs = azs(ctx);
    x.open(tag)
        .text("DBSubnetGroupName", &g.name)
        .text("DBSubnetGroupDescription", &g.description)
        .text("VpcId", &g.vpc_id)
        .text("SubnetGroupStatus", "Complete");
    x.list(
        "Subnets",
        "Subnet",
        g.subnets.iter().enumerate(),
        |x, (n, s)| {
            x.text("SubnetIdentifier", s)
                .open("SubnetAvailabilityZone")
                .text("Name", &azs[n % azs.len()])
                .close("SubnetAvailabilityZone")
                .text("SubnetStatus", "Active");
        },
    );
    x.text("DBSubnetGroupArn", &g.arn);
    x.strings("SupportedNetworkTypes", "member", &["IPV4".to_string()]);
    x.close(tag);
}

pub(super) fn validate_subnet_group_name(name: &str) -> AwsResult<()> {
    // "First character must be a letter."
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ' ' | '-'))
        && !name.eq_ignore_ascii_case("default");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "The parameter DBSubnetGroupName is not a valid identifier: {name:?}. It must begin with a letter, contain only letters, digits, periods, underscores, spaces, or hyphens, and must not be \"default\"."
        )))
    }
}

pub(super) fn validate_subnets(subnets: &[String]) -> AwsResult<()> {
    for s in subnets {
        if !s.starts_with("subnet-") {
            return Err(AwsError::client(
                "InvalidSubnet",
                format!("The subnet ID '{s}' is not valid."),
            ));
        }
    }
    let mut unique = subnets.to_vec();
    unique.sort();
    unique.dedup();
    if unique.len() < 2 {
        // awsim places subnets in distinct AZs, so "two distinct subnets" is
        // AWS's "cover at least two AZs".
        return Err(AwsError::client(
            "DBSubnetGroupDoesNotCoverEnoughAZs",
            format!(
                "The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. Current AZ coverage: {}. Add subnets to cover at least 2 AZs.",
                unique.len()
            ),
        ));
    }
    Ok(())
}
