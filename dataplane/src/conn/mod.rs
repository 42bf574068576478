//! Connection table. Owned by the connection-table work in progress.
