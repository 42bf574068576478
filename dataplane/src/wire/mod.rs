//! Wire views (smoltcp style). Owned by the wire-views work in progress.
