//! Live DASH: manifests, fMP4 boxes, segment storage (see issue 5).
