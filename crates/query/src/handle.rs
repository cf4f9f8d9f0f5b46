//! The lake handle as readers use it: storage with rollups observing its transactions, and query
//! sessions over its snapshots.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use costpilot_lake::Lake;

use crate::error::QueryError;
use crate::limits::QueryLimits;
use crate::rollup::Rollups;
use crate::scope::Scope;
use crate::session::LakeSession;

/// Opens the lake of a data directory (creating it if absent) so that every transaction also
/// writes its units' rollup parts (see [`crate::rollup`]).
pub fn open_lake(data_dir: &Path) -> Result<Lake, QueryError> {
    Ok(Lake::open(data_dir)?.with_observers(Arc::new(Rollups)))
}

/// Query sessions over a [`Lake`]'s current snapshot.
pub trait Sessions {
    /// A session that sees every row (see [`LakeSession`]).
    fn session(&self) -> impl Future<Output = Result<LakeSession, QueryError>> + Send;

    /// A session that sees only the rows in `scope`, whatever it asks.
    fn session_scoped(&self, scope: &Scope) -> impl Future<Output = Result<LakeSession, QueryError>> + Send;

    /// A session over `scope` whose queries stay within `limits` (the other constructors read them
    /// from the environment: see `limits`).
    fn session_with_limits(
        &self,
        scope: &Scope,
        limits: QueryLimits,
    ) -> impl Future<Output = Result<LakeSession, QueryError>> + Send;
}

impl Sessions for Lake {
    async fn session(&self) -> Result<LakeSession, QueryError> {
        self.session_scoped(&Scope::all()).await
    }

    async fn session_scoped(&self, scope: &Scope) -> Result<LakeSession, QueryError> {
        self.session_with_limits(scope, QueryLimits::from_env()?).await
    }

    async fn session_with_limits(
        &self,
        scope: &Scope,
        limits: QueryLimits,
    ) -> Result<LakeSession, QueryError> {
        LakeSession::open(self, self.manifest()?, scope, limits).await
    }
}
