//! TODO: address
