//! The Instagram simulator (see issue 3).
