//! vsd control (work in progress).
