//! The ticket tag in subjects (`[#1042]`) and the reply/forward prefixes around it.
