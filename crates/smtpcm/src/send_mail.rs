//! TODO: send_mail
