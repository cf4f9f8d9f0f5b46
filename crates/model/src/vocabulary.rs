//! The words every block asks for numbers in: the metrics a cost can be summed as, and the error
//! that names an unknown word with the closest valid one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::names;

/// Valid names listed in an error, at most.
const LISTED_NAMES: usize = 40;

/// A name that is not one of the valid ones, with the closest valid name when one is close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct UnknownName {
    /// What was named (`metric`, `dimension`, ...).
    pub kind: String,
    /// The name given.
    pub given: String,
    /// The valid names.
    pub valid: Vec<String>,
}

impl UnknownName {
    /// `given` is not a valid `kind`; `valid` lists what is.
    pub fn new(kind: &str, given: &str, valid: Vec<String>) -> Self {
        Self { kind: kind.to_string(), given: given.to_string(), valid }
    }

    fn message(&self) -> String {
        let lower = self.given.to_lowercase();
        let closest = self
            .valid
            .iter()
            .map(|v| (strsim::jaro_winkler(&lower, &v.to_lowercase()), v))
            .filter(|(score, _)| *score >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let hint = closest.map(|(_, v)| format!(" did you mean '{v}'?")).unwrap_or_default();
        let mut list = self.valid.iter().take(LISTED_NAMES).cloned().collect::<Vec<_>>().join(", ");
        if self.valid.len() > LISTED_NAMES {
            list.push_str(&format!(" and {} more", self.valid.len() - LISTED_NAMES));
        }
        if self.valid.is_empty() {
            list = "none in the lake".to_string();
        }
        format!("unknown {} '{}';{hint} valid: {list}", self.kind, self.given)
    }
}

/// What to add up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Metric {
    /// BilledCost: what the invoice charges.
    BilledCost,
    /// EffectiveCost: amortised, after discounts.
    #[default]
    EffectiveCost,
    /// ListCost: at public list prices.
    ListCost,
    /// ContractedCost: at negotiated prices.
    ContractedCost,
    /// ConsumedQuantity, in each row's ConsumedUnit.
    UsageQuantity,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 5] = [
        Metric::BilledCost,
        Metric::EffectiveCost,
        Metric::ListCost,
        Metric::ContractedCost,
        Metric::UsageQuantity,
    ];

    /// The name requests use (`effective_cost`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::BilledCost => "billed_cost",
            Metric::EffectiveCost => "effective_cost",
            Metric::ListCost => "list_cost",
            Metric::ContractedCost => "contracted_cost",
            Metric::UsageQuantity => "usage_quantity",
        }
    }

    /// The `focus` column it adds up.
    pub fn column(self) -> &'static str {
        match self {
            Metric::BilledCost => names::BILLED_COST,
            Metric::EffectiveCost => names::EFFECTIVE_COST,
            Metric::ListCost => names::LIST_COST,
            Metric::ContractedCost => names::CONTRACTED_COST,
            Metric::UsageQuantity => names::CONSUMED_QUANTITY,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = UnknownName;

    /// Reads `effective_cost`, `EffectiveCost` or any case of either; `ConsumedQuantity` is
    /// `usage_quantity`.
    fn from_str(text: &str) -> Result<Metric, UnknownName> {
        let squash = |s: &str| s.trim().to_lowercase().replace('_', "");
        let given = squash(text);
        if given == squash(names::CONSUMED_QUANTITY) {
            return Ok(Metric::UsageQuantity);
        }
        Metric::ALL.into_iter().find(|m| squash(m.name()) == given).ok_or_else(|| {
            let valid = Metric::ALL.iter().map(|m| m.name().to_string()).collect();
            UnknownName::new("metric", text.trim(), valid)
        })
    }
}

impl TryFrom<String> for Metric {
    type Error = UnknownName;
    fn try_from(text: String) -> Result<Metric, UnknownName> {
        text.parse()
    }
}

impl From<Metric> for String {
    fn from(m: Metric) -> String {
        m.to_string()
    }
}
