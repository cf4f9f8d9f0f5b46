//! The dimension vocabulary: every column costs are grouped and filtered by, in one table.
//!
//! [`DIMENSIONS`] lists the dimensions every lake has: the name requests, filters and reports use,
//! the `focus` column holding the value and, where one exists, the column naming it for people. A
//! time column (the billing period) groups by its instants, and a filter on it compares instants.
//! The semantic layer reads its dimensions from this table, so a new dimension is one entry here:
//! its name parses, compiles to its column, lists among the valid names and groups any request.
//! Allocation dimensions (team, business unit, ...) come from the tag rules in force and are
//! columns of the `focus` view named by [`allocation_column`].

use crate::names;

/// A dimension every lake has.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DimensionDef {
    /// The name requests use (`account`).
    pub name: &'static str,
    /// The `focus` column holding its value.
    pub column: &'static str,
    /// The `focus` column naming the value for people (an account's name), if any.
    pub label: Option<&'static str>,
}

const fn def(name: &'static str, column: &'static str, label: Option<&'static str>) -> DimensionDef {
    DimensionDef { name, column, label }
}

/// The dimensions every lake has, in the order they are listed.
pub const DIMENSIONS: &[DimensionDef] = &[
    def("provider", names::PROVIDER_NAME, None),
    def("billing_account", names::BILLING_ACCOUNT_ID, Some(names::BILLING_ACCOUNT_NAME)),
    def("account", names::SUB_ACCOUNT_ID, Some(names::SUB_ACCOUNT_NAME)),
    def("service", names::SERVICE_NAME, None),
    def("service_category", names::SERVICE_CATEGORY, None),
    def("region", names::REGION_ID, None),
    def("resource", names::RESOURCE_ID, None),
    def("charge_category", names::CHARGE_CATEGORY, None),
    def("currency", names::BILLING_CURRENCY, None),
    def("instance_type", names::X_INSTANCE_TYPE, None),
    def("billing_period", names::BILLING_PERIOD_START, None),
];

/// The dimension named `name` (exactly, lower case), if every lake has it.
pub fn find(name: &str) -> Option<&'static DimensionDef> {
    DIMENSIONS.iter().find(|d| d.name == name)
}

/// The allocation dimensions tag rules resolve when they do not list their own.
pub const DEFAULT_ALLOCATION_DIMENSIONS: [&str; 7] =
    ["team", "business_unit", "cost_centre", "application", "environment", "owner", "criticality"];

/// The `focus` column of an allocation dimension (`x_team`).
pub fn allocation_column(dimension: &str) -> String {
    format!("x_{dimension}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{COLUMNS, ColumnRole};

    #[test]
    fn names_are_unique_and_columns_are_dimensions_of_the_lake() {
        let mut seen = std::collections::HashSet::new();
        for d in DIMENSIONS {
            assert!(seen.insert(d.name), "{} twice", d.name);
            assert_eq!(find(d.name), Some(d));
            for column in std::iter::once(d.column).chain(d.label) {
                let def = COLUMNS.iter().find(|c| c.name == column).expect("a lake column");
                assert!(matches!(def.role, ColumnRole::Dimension | ColumnRole::Time), "{column}");
            }
        }
        assert!(DIMENSIONS.iter().all(|d| !DEFAULT_ALLOCATION_DIMENSIONS.contains(&d.name)));
    }
}
