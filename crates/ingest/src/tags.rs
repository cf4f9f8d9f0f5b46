//! Tag keys: normalisation with provenance. (Being written.)
