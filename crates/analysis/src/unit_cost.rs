//! Unit cost: EffectiveCost divided by a volume of a business metric (see
//! [`costpilot_query::business`]).
//!
//! [`unit_cost`] joins Σ EffectiveCost by time bucket, allocation dimensions and currency (a
//! semantic request, which a rollup of the dimensions answers when one is fresh) with Σ of a
//! metric by the same bucket and dimensions (the metric's dimension columns carry the names of the
//! rules' dimensions), and shows both inputs beside the quotient.

use costpilot_query::QueryError;
use costpilot_query::business::BUSINESS_TABLE;
use std::collections::HashMap;

use costpilot_query::columns::{amount, amounts_named, literal, opt_amount, strings_named, times_named};
use costpilot_query::semantic::{self, Dimension, Grain, Metric, Request, TimeRange};
use costpilot_query::session::LakeSession;
use serde::Serialize;

/// One bucket of unit cost.
#[derive(Debug, Clone, Serialize)]
pub struct UnitCost {
    /// The bucket's start (RFC 3339).
    pub bucket: String,
    /// The value of each requested dimension.
    pub dimensions: Vec<Option<String>>,
    /// BillingCurrency.
    pub currency: String,
    /// Σ EffectiveCost.
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
    /// Σ of the metric.
    #[serde(serialize_with = "amount")]
    pub volume: i128,
    /// `effective_cost / volume`, exact to 10^-15; `None` when the volume is zero.
    #[serde(serialize_with = "opt_amount")]
    pub unit_cost: Option<i128>,
}

/// EffectiveCost per unit of `metric`, by `grain` and the allocation dimensions `by`, in `range`
/// when given. Buckets where either side has
/// nothing are left out: a unit cost needs both.
pub async fn unit_cost(
    session: &LakeSession,
    metric: &str,
    by: &[String],
    grain: Grain,
    range: Option<TimeRange>,
) -> Result<Vec<UnitCost>, QueryError> {
    let dims = session.resolver().dimensions();
    if let Some(bad) = by.iter().find(|d| !dims.contains(d)) {
        return Err(QueryError::Query(format!(
            "unit cost by '{bad}': not an allocation dimension; the rules have {}",
            dims.join(", ")
        )));
    }
    if session.context().table_exist(BUSINESS_TABLE)? {
        let known =
            session.sql(&format!("SELECT DISTINCT name AS metric FROM {BUSINESS_TABLE} ORDER BY 1")).await?;
        let names: Vec<String> = known
            .batches
            .iter()
            .map(|b| strings_named(b, "metric"))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        if !names.iter().any(|n| n == metric) {
            return Err(QueryError::Query(format!(
                "no business metric '{metric}'; imported: {}",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            )));
        }
    } else {
        return Err(QueryError::Query(
            "no business metrics imported; import some with: costpilot metrics import FILE".into(),
        ));
    }
    let cost = Request {
        metric: Metric::EffectiveCost,
        group_by: by.iter().map(|d| Dimension::Allocation(d.clone())).collect(),
        range,
        grain: Some(grain),
        ..Request::default()
    };
    let volumes = volumes(session, metric, by, grain, range).await?;
    let mut out = Vec::new();
    for row in semantic::run_all(session, &cost).await? {
        // A unit cost needs both sides: a cost without a bucket, a dimension's value or a volume
        // of the same bucket and values has none.
        let (Some(bucket), Some(dimensions)) =
            (row.bucket, row.groups.iter().cloned().collect::<Option<Vec<String>>>())
        else {
            continue;
        };
        let Some(volume) = volumes.get(&(bucket, dimensions.clone())) else { continue };
        let volume = volume.unwrap_or(0);
        out.push(UnitCost {
            bucket: costpilot_model::time::format_micros(bucket),
            dimensions: dimensions.into_iter().map(Some).collect(),
            currency: row.currency,
            effective_cost: row.value,
            volume,
            unit_cost: divide(row.value, volume),
        });
    }
    out.sort_by(|a, b| (&a.bucket, &a.dimensions, &a.currency).cmp(&(&b.bucket, &b.dimensions, &b.currency)));
    Ok(out)
}

/// Σ of `metric` by bucket of `grain` and the values of the dimensions `by` (in that order), in
/// `range` when given: a typed query over the business metrics, read by name, as the semantic
/// layer answers for the lake's costs and not for the volumes imported beside them.
async fn volumes(
    session: &LakeSession,
    metric: &str,
    by: &[String],
    grain: Grain,
    range: Option<TimeRange>,
) -> Result<HashMap<(i64, Vec<String>), Option<i128>>, QueryError> {
    let mut filters = vec![format!("name = {}", literal(metric))];
    if let Some(r) = range {
        filters.push(format!("timestamp >= to_timestamp_micros({})", r.start));
        filters.push(format!("timestamp < to_timestamp_micros({})", r.end));
    }
    let dims: String =
        by.iter().enumerate().map(|(i, d)| format!(", dimensions[{}] AS d{i}", literal(d))).collect();
    let keys: String = (0..by.len()).map(|i| format!(", d{i}")).collect();
    let sql = format!(
        "SELECT date_trunc('{grain}', timestamp) AS bucket{dims}, sum(value) AS volume \
         FROM {BUSINESS_TABLE} WHERE {} GROUP BY bucket{keys}",
        filters.join(" AND ")
    );
    let result = session.sql(&sql).await?;
    let mut out = HashMap::new();
    for batch in &result.batches {
        let bucket = times_named(batch, "bucket")?;
        let volume = amounts_named(batch, "volume")?;
        let dims: Vec<Vec<Option<String>>> =
            (0..by.len()).map(|i| strings_named(batch, &format!("d{i}"))).collect::<Result<_, _>>()?;
        for r in 0..batch.num_rows() {
            let values: Option<Vec<String>> = dims.iter().map(|d| d[r].clone()).collect();
            if let (Some(bucket), Some(values)) = (bucket[r], values) {
                out.insert((bucket, values), volume[r]);
            }
        }
    }
    Ok(out)
}

/// `cost / volume` in units of 10^-15, rounded half away from zero; exact while the numbers fit.
fn divide(cost: i128, volume: i128) -> Option<i128> {
    if volume == 0 {
        return None;
    }
    const SCALE: i128 = 1_000_000_000_000_000;
    match cost.checked_mul(SCALE) {
        Some(n) => {
            let (q, r) = (n / volume, n % volume);
            let up = (r.abs() * 2 >= volume.abs()) as i128;
            Some(q + up * (n.signum() * volume.signum()))
        }
        None => Some((cost as f64 / volume as f64 * SCALE as f64).round() as i128),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_is_exact_and_rounds_half_away_from_zero() {
        const U: i128 = 1_000_000_000_000_000;
        assert_eq!(divide(10 * U, 4 * U), Some(2_500_000_000_000_000));
        assert_eq!(divide(U, 3 * U), Some(333_333_333_333_333));
        assert_eq!(divide(2 * U, 3 * U), Some(666_666_666_666_667));
        assert_eq!(divide(-2 * U, 3 * U), Some(-666_666_666_666_667));
        assert_eq!(divide(U, 0), None);
    }
}
