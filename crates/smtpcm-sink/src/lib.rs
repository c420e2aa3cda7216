//! Loopback SMTP capture server.
