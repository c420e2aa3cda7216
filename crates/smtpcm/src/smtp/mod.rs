//! TODO: smtp
