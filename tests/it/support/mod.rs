//! Harnesses shared by the integration tests: the real binary (`cli`), the simulator (`sim`), a daemon wired to it
//! (`daemon`), the capture engine at simulator speed (`capture`), a stub private API
//! (`client`), the detector against the simulator (`watch`), test media made with ffmpeg
//! (`media`), hostile texts (`hostile`), an archive served by the library (`library`) and the S3 server
//! of `scripts/test-s3` with an outage gate (`s3`).

pub mod capture;
pub mod cli;
pub mod client;
pub mod daemon;
pub mod hostile;
pub mod library;
pub mod media;
pub mod postgres;
pub mod proxy;
pub mod s3;
pub mod sim;
pub mod watch;
