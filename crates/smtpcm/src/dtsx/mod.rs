//! TODO: dtsx
