//! Raw declarations that bindgen generates from `src/shim.h` at build time (see `build.rs`).
//!
//! Generated code does not follow this crate's lint rules, so they are relaxed here and only here.
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case, dead_code, missing_docs)]
#![allow(unsafe_op_in_unsafe_fn, clippy::all, clippy::pedantic, clippy::undocumented_unsafe_blocks)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
