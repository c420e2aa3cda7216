//! TODO: connection_manager
