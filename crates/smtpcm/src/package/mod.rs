//! TODO: package
