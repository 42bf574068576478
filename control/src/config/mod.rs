//! Config (work in progress).
