//! Schedulers. Owned by the scheduler work in progress.
