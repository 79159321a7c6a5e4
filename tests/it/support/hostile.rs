//! Hostile texts from the network, shared by every test that shows them to a person (the
//! recording folder, the library's API and pages): markup, subtitle syntax, NULs, blank lines,
//! entities, a username that tries to escape its folder.

pub const HOSTILE_USER: &str = "../../evil/<script>\u{0}x";

pub const HOSTILE_TEXTS: [&str; 6] = [
    "<script>alert(1)</script>",
    "a --> b",
    "nul\u{0}inside",
    "line one\n\nNOTE not a note",
    "</script><img src=x onerror=alert(1)>",
    "&amp; stays &lt;literal&gt;",
];
