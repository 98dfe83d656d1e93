pub use asl_core::*;
