//! TODO: run
