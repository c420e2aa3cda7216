//! TODO: expr
