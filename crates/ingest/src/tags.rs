//! Tag keys: normalisation with provenance.
//!
//! Billing exports spell the same tag key differently. A user tag `team` arrives as `user_team` in
//! the CUR 2.0 `resource_tags` map, as the column `resource_tags_user_team` when an export flattens
//! the map, and as the column `resourceTags/user:team` in legacy CUR. AWS-generated tags such as
//! `aws:createdBy` arrive as `aws_created_by` in CUR 2.0 (AWS lower-cases the key and turns `:`,
//! `-` and camel-case humps into `_`) and as `resourceTags/aws:createdBy` in legacy CUR.
//!
//! [`normalize_tag_key`] gives the key users wrote (`team`) and the AWS spelling for AWS tags
//! (`aws:createdBy`); readers keep the raw key beside it (in `x_RawTags`) so the mapping can always
//! be traced back. [`normalize_cost_category_key`] does the same for cost categories.

use std::borrow::Cow;

/// Prefixes that mark a column (not a map key) as holding one resource tag.
pub const TAG_COLUMN_PREFIXES: [&str; 2] = ["resourceTags/", "resource_tags_"];

/// Prefixes that mark a column (not a map key) as holding one cost category.
pub const COST_CATEGORY_COLUMN_PREFIXES: [&str; 2] = ["costCategory/", "cost_category_"];

/// AWS-generated tags that AWS activates for cost allocation, as CUR 2.0 spells them and as AWS
/// writes them. CUR 2.0's spelling loses the separators and the case, so it cannot be inverted by
/// rule; keys not listed here become `aws:` followed by the rest of the key unchanged.
const AWS_TAGS: &[(&str, &str)] = &[
    ("aws_autoscaling_group_name", "aws:autoscaling:groupName"),
    ("aws_batch_compute_environment", "aws:batch:compute-environment"),
    ("aws_batch_job_definition", "aws:batch:job-definition"),
    ("aws_batch_job_queue", "aws:batch:job-queue"),
    ("aws_cloudformation_logical_id", "aws:cloudformation:logical-id"),
    ("aws_cloudformation_stack_id", "aws:cloudformation:stack-id"),
    ("aws_cloudformation_stack_name", "aws:cloudformation:stack-name"),
    ("aws_created_by", "aws:createdBy"),
    ("aws_ec2_fleet_id", "aws:ec2:fleet-id"),
    ("aws_ec2launchtemplate_id", "aws:ec2launchtemplate:id"),
    ("aws_ec2launchtemplate_version", "aws:ec2launchtemplate:version"),
    ("aws_ec2spot_fleet_request_id", "aws:ec2spot:fleet-request-id"),
    ("aws_ecs_cluster_name", "aws:ecs:clusterName"),
    ("aws_ecs_service_name", "aws:ecs:serviceName"),
    ("aws_eks_cluster_name", "aws:eks:cluster-name"),
    ("aws_eks_deployment", "aws:eks:deployment"),
    ("aws_eks_namespace", "aws:eks:namespace"),
    ("aws_eks_node", "aws:eks:node"),
    ("aws_eks_workload_name", "aws:eks:workload-name"),
    ("aws_eks_workload_type", "aws:eks:workload-type"),
    ("aws_elasticmapreduce_instance_group_role", "aws:elasticmapreduce:instance-group-role"),
    ("aws_elasticmapreduce_job_flow_id", "aws:elasticmapreduce:job-flow-id"),
    ("aws_servicecatalog_portfolio_arn", "aws:servicecatalog:portfolioArn"),
    ("aws_servicecatalog_product_arn", "aws:servicecatalog:productArn"),
    ("aws_servicecatalog_provisioned_product_arn", "aws:servicecatalog:provisionedProductArn"),
    ("aws_servicecatalog_provisioning_principal_arn", "aws:servicecatalog:provisioningPrincipalArn"),
];

/// The key of a resource tag as users and AWS write it, from any spelling an AWS export uses:
///
/// - the column prefixes `resourceTags/` (legacy CUR) and `resource_tags_` (a flattened CUR 2.0
///   map) are dropped first;
/// - `user:` (legacy) and `user_` (CUR 2.0) are dropped: user tags carry no prefix;
/// - `aws:...` is kept as it is; `aws_...` (CUR 2.0) gets its AWS spelling back (`aws:createdBy`);
/// - anything else is kept as it is.
pub fn normalize_tag_key(raw: &str) -> Cow<'_, str> {
    let key = strip_any(raw, &TAG_COLUMN_PREFIXES);
    if let Some(user) = key.strip_prefix("user:").or_else(|| key.strip_prefix("user_")) {
        return Cow::Borrowed(user);
    }
    if key.starts_with("aws:") {
        return Cow::Borrowed(key);
    }
    if let Some(rest) = key.strip_prefix("aws_") {
        return match AWS_TAGS.binary_search_by(|(cur2, _)| cur2.cmp(&key)) {
            Ok(i) => Cow::Borrowed(AWS_TAGS[i].1),
            Err(_) => Cow::Owned(format!("aws:{rest}")),
        };
    }
    Cow::Borrowed(key)
}

/// The name of a cost category from a map key (`team`) or a column name (`costCategory/Team`,
/// `cost_category_team`).
pub fn normalize_cost_category_key(raw: &str) -> &str {
    strip_any(raw, &COST_CATEGORY_COLUMN_PREFIXES)
}

/// True when a column name holds one resource tag (as opposed to the `resource_tags` map itself).
pub fn is_tag_column(name: &str) -> bool {
    has_any_prefix(name, &TAG_COLUMN_PREFIXES)
}

/// True when a column name holds one cost category (as opposed to the `cost_category` map itself).
pub fn is_cost_category_column(name: &str) -> bool {
    has_any_prefix(name, &COST_CATEGORY_COLUMN_PREFIXES)
}

fn has_any_prefix(name: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| {
        name.len() > p.len() && name.is_char_boundary(p.len()) && name[..p.len()].eq_ignore_ascii_case(p)
    })
}

fn strip_any<'a>(name: &'a str, prefixes: &[&str]) -> &'a str {
    for p in prefixes {
        if name.len() >= p.len() && name.is_char_boundary(p.len()) && name[..p.len()].eq_ignore_ascii_case(p)
        {
            return &name[p.len()..];
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_tag_table_is_sorted_for_binary_search() {
        assert!(AWS_TAGS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
