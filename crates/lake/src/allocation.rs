//! Shared-cost allocation (being written).
