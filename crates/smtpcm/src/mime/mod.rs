//! TODO: mime
