//! The scheduled review as a mail.
