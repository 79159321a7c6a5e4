//! What the library reads, over either catalog: each method is one async call for a handler.
//! On SQLite it runs `store::browse` / `store::search` on a pooled connection on a blocking
//! thread (`Library::read`); on PostgreSQL the same reads of `store/postgres/browse.rs`, which
//! answer the same types in the same order with the same cursors.

use crate::output::RecordingFacts;
use crate::recording::LiveRecording;
use crate::store::browse::{
    self, AccountSummary, BrowseFilter, BrowseRow, CommentKey, LikePoint, RecordingKey, SampleKey,
    SortKey, ViewerPoint,
};
use crate::store::query::CommentExport;
use crate::store::search::{self, Parsed, SearchHit};
use crate::store::Catalog;

use super::envelope::ApiError;
use super::live::{self, LiveItem};
use super::Library;

/// A page of rows and the key of the next one.
pub type Page<R, K> = (Vec<R>, Option<K>);

/// One read on whichever catalog: `$sqlite` over a pooled connection, `$pg` over the
/// PostgreSQL catalog (a future).
macro_rules! read {
    ($lib:ident, |$conn:ident| $sqlite:expr, |$pgc:ident| $pg:expr) => {
        match &$lib.0.catalog {
            Catalog::Sqlite(_) => $lib.read(move |$conn| $sqlite).await,
            Catalog::Postgres($pgc) => $pg.await.map_err(ApiError::from),
        }
    };
}

impl Library {
    /// A page of recordings, filtered and sorted.
    pub(crate) async fn browse_recordings(
        &self,
        filter: BrowseFilter,
        sort: SortKey,
        descending: bool,
        after: Option<RecordingKey>,
        limit: usize,
    ) -> Result<Page<BrowseRow, RecordingKey>, ApiError> {
        read!(
            self,
            |c| browse::recordings(c, &filter, sort, descending, after.as_ref(), limit),
            |p| p.browse_recordings(&filter, sort, descending, after.as_ref(), limit)
        )
    }

    /// One recording's row.
    pub(crate) async fn browse_recording(&self, id: String) -> Result<Option<BrowseRow>, ApiError> {
        read!(self, |c| browse::recording(c, &id), |p| p
            .browse_recording(&id))
    }

    /// One recording's row and its facts (one connection on SQLite).
    pub(crate) async fn recording_detail(
        &self,
        id: String,
    ) -> Result<Option<(BrowseRow, Option<RecordingFacts>)>, ApiError> {
        match &self.0.catalog {
            Catalog::Sqlite(_) => {
                self.read(move |c| {
                    let Some(row) = browse::recording(c, &id)? else {
                        return Ok(None);
                    };
                    Ok(Some((row, RecordingFacts::load(c, &id)?)))
                })
                .await
            }
            catalog @ Catalog::Postgres(p) => {
                let Some(row) = p.browse_recording(&id).await? else {
                    return Ok(None);
                };
                Ok(Some((row, RecordingFacts::load_from(catalog, &id).await?)))
            }
        }
    }

    /// One recording's facts (`broadcast.json`'s figures and its chat).
    pub(crate) async fn facts(&self, id: String) -> Result<Option<RecordingFacts>, ApiError> {
        match &self.0.catalog {
            Catalog::Sqlite(_) => self.read(move |c| RecordingFacts::load(c, &id)).await,
            catalog => Ok(RecordingFacts::load_from(catalog, &id).await?),
        }
    }

    /// A page of one recording's comments in time order.
    pub(crate) async fn comments_page(
        &self,
        id: String,
        after: Option<CommentKey>,
        from_offset: Option<f64>,
        limit: usize,
    ) -> Result<Page<CommentExport, CommentKey>, ApiError> {
        read!(
            self,
            |c| browse::comments(c, &id, after.as_ref(), from_offset, limit),
            |p| p.browse_comments(&id, after.as_ref(), from_offset, limit)
        )
    }

    /// A page of one recording's live like counts.
    pub(crate) async fn likes_page(
        &self,
        id: String,
        after: Option<SampleKey>,
        limit: usize,
    ) -> Result<Page<LikePoint, SampleKey>, ApiError> {
        read!(
            self,
            |c| browse::likes(c, &id, after.as_ref(), limit),
            |p| p.browse_likes(&id, after.as_ref(), limit)
        )
    }

    /// A page of one recording's viewer counts.
    pub(crate) async fn viewers_page(
        &self,
        id: String,
        after: Option<SampleKey>,
        limit: usize,
    ) -> Result<Page<ViewerPoint, SampleKey>, ApiError> {
        read!(
            self,
            |c| browse::viewers(c, &id, after.as_ref(), limit),
            |p| p.browse_viewers(&id, after.as_ref(), limit)
        )
    }

    /// Every account the catalog knows, with its recordings.
    pub(crate) async fn known_accounts(&self) -> Result<Vec<AccountSummary>, ApiError> {
        read!(self, |c| browse::accounts(c), |p| p.browse_accounts())
    }

    /// The hits of a query, newest stored first, before the index position `before`.
    pub(crate) async fn search(
        &self,
        query: Parsed,
        only: Option<String>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, ApiError> {
        read!(
            self,
            |c| search::search(c, &query.plan(), only.as_deref(), before, limit),
            |p| p.search(&query, only.as_deref(), before, limit)
        )
    }

    /// The recordings in progress (`live::snapshot`; one connection on SQLite).
    pub(crate) async fn live_snapshot(
        &self,
        running: Vec<LiveRecording>,
    ) -> Result<Vec<LiveItem>, ApiError> {
        let p = match &self.0.catalog {
            Catalog::Sqlite(_) => return self.read(move |c| live::snapshot(c, &running)).await,
            Catalog::Postgres(p) => p,
        };
        let (rows, _) = p
            .browse_recordings(
                &live::in_progress_filter(),
                SortKey::Started,
                true,
                None,
                live::MAX_LIVE,
            )
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let id = &row.summary.broadcast_id;
            let latest = p.latest_comments(id, live::LATEST_COMMENTS).await?;
            let viewers = p.current_viewers(id).await?;
            items.push(live::item(row, &running, latest, viewers));
        }
        Ok(items)
    }
}
