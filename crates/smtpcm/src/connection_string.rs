//! TODO: connection_string
