//! A ticket's mail as files: one `.eml` per message, or one mbox.
