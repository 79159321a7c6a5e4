//! The web app's pages: static HTML shells (landmarks, labelled controls, no data in them) that
//! `assets/app.js` fills from the API with `textContent` only. The assets are embedded in the
//! binary; nothing is fetched from anywhere else, and the CSP (`default-src 'self'`) forbids
//! inline script and style, so even a page built from hostile data cannot run any.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const APP_JS: &str = include_str!("assets/app.js");
const DOCS_JS: &str = include_str!("assets/docs.js");
const APP_CSS: &str = include_str!("assets/app.css");
const ICON_SVG: &str = include_str!("assets/icon.svg");

/// The pages, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Recordings,
    Recording,
    Live,
    Search,
    Accounts,
    Sessions,
    System,
    Docs,
    NotFound,
}

impl Page {
    fn id(self) -> &'static str {
        match self {
            Page::Recordings => "recordings",
            Page::Recording => "recording",
            Page::Live => "live",
            Page::Search => "search",
            Page::Accounts => "accounts",
            Page::Sessions => "sessions",
            Page::System => "system",
            Page::Docs => "docs",
            Page::NotFound => "not-found",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Page::Recordings => "Recordings",
            Page::Recording => "Recording",
            Page::Live => "Live now",
            Page::Search => "Search",
            Page::Accounts => "Accounts",
            Page::Sessions => "Sessions",
            Page::System => "System",
            Page::Docs => "API documentation",
            Page::NotFound => "Not found",
        }
    }

    /// The navigation entry this page belongs to.
    fn nav(self) -> Option<Page> {
        match self {
            Page::Recording => Some(Page::Recordings),
            Page::NotFound => None,
            p => Some(p),
        }
    }

    fn main(self) -> &'static str {
        match self {
            Page::Recordings => RECORDINGS,
            Page::Recording => RECORDING,
            Page::Live => LIVE,
            Page::Search => SEARCH,
            Page::Accounts => ACCOUNTS,
            Page::Sessions => SESSIONS,
            Page::System => SYSTEM,
            Page::Docs => DOCS,
            Page::NotFound => NOT_FOUND,
        }
    }
}

const NAV: [(Page, &str); 7] = [
    (Page::Recordings, "/"),
    (Page::Live, "/live"),
    (Page::Search, "/search"),
    (Page::Accounts, "/accounts"),
    (Page::Sessions, "/pool"),
    (Page::System, "/system"),
    (Page::Docs, "/docs"),
];

fn shell(page: Page) -> String {
    let nav: String = NAV
        .iter()
        .map(|(p, href)| {
            let current = if page.nav() == Some(*p) {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<li><a href=\"{href}\"{current}>{}</a></li>", p.title())
        })
        .collect();
    let script = if page == Page::Docs {
        "<script src=\"/assets/docs.js\" defer></script>"
    } else {
        ""
    };
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · iglive</title>
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/app.js" defer></script>
{script}
</head>
<body data-page="{id}">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/"><img src="/assets/icon.svg" alt="" width="24" height="24"> iglive</a>
<nav aria-label="Main"><ul>{nav}</ul></nav>
</header>
<form id="token" class="token" hidden>
<p id="token-why">This iglive listener needs its API token (the contents of <code>status.token_file</code>).</p>
<label for="token-input">API token</label>
<input id="token-input" type="password" autocomplete="off" required>
<button type="submit">Use this token</button>
</form>
<main id="main" tabindex="-1">
{main}
</main>
<footer class="foot"><p>iglive {version} · <a href="/docs">API</a> · <a href="/openapi.json">OpenAPI</a></p></footer>
</body>
</html>
"##,
        title = page.title(),
        id = page.id(),
        main = page.main(),
        version = env!("CARGO_PKG_VERSION"),
    )
}

const RECORDINGS: &str = r#"<h1>Recordings</h1>
<form id="filters" class="filters" role="search" aria-label="Filter recordings">
<div class="field"><label for="f-account">Account</label><select id="f-account" name="account"><option value="">All accounts</option></select></div>
<div class="field"><label for="f-status">Status</label><select id="f-status" name="status"><option value="">Any status</option><option value="recording">Recording</option><option value="interrupted">Interrupted</option><option value="finalizing">Finalizing</option><option value="finished">Finished</option><option value="failed">Failed</option><option value="waiting">Waiting</option><option value="detected">Detected</option></select></div>
<div class="field"><label for="f-since">From</label><input id="f-since" name="since" type="date"></div>
<div class="field"><label for="f-until">To</label><input id="f-until" name="until" type="date"></div>
<div class="field"><label for="f-sort">Sort by</label><select id="f-sort" name="sort"><option value="started">Start time</option><option value="duration">Duration</option><option value="comments">Comments</option><option value="peak_viewers">Peak viewers</option><option value="likes">Likes</option><option value="account">Account</option></select></div>
<div class="field"><label for="f-order">Order</label><select id="f-order" name="order"><option value="">Default</option><option value="desc">Descending</option><option value="asc">Ascending</option></select></div>
<div class="actions"><button type="submit">Apply</button><button type="reset" class="secondary">Clear</button></div>
</form>
<p id="summary" class="summary" role="status" aria-live="polite"></p>
<div class="table-wrap">
<table id="recordings" class="list">
<caption class="visually-hidden">Recordings</caption>
<thead><tr><th scope="col">Account</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Status</th><th scope="col" class="num">Comments</th><th scope="col" class="num">Peak viewers</th><th scope="col" class="num">Size</th></tr></thead>
<tbody></tbody>
</table>
</div>
<button id="more" type="button" class="more" hidden>Load more</button>"#;

const RECORDING: &str = r#"<p class="back"><a href="/">← All recordings</a></p>
<h1 id="title">Recording</h1>
<p id="subtitle" class="subtitle"></p>
<p id="note" class="note" role="status" hidden></p>
<div class="player">
<div class="video-box"><video id="video" controls preload="metadata" playsinline></video></div>
<section class="chat-box" aria-labelledby="chat-h">
<h2 id="chat-h">Chat <span id="chat-time" class="muted"></span></h2>
<ol id="chat" class="chat" tabindex="0" aria-label="Chat up to the current moment"></ol>
</section>
</div>
<section aria-labelledby="chart-h">
<h2 id="chart-h">Viewers and likes</h2>
<div id="chart" class="chart"></div>
<p class="hint">Select a point of the chart to jump there.</p>
</section>
<div class="columns">
<section aria-labelledby="facts-h"><h2 id="facts-h">Facts</h2><dl id="facts" class="facts"></dl></section>
<section aria-labelledby="dl-h"><h2 id="dl-h">Downloads</h2><ul id="downloads" class="downloads"></ul></section>
</div>"#;

const LIVE: &str = r#"<h1>Live now</h1>
<p id="conn" class="summary" role="status" aria-live="polite">Connecting…</p>
<div id="live" class="cards"></div>
<p id="empty" class="empty" hidden>Nothing is being recorded right now. This page updates by itself when a live starts.</p>
<section id="ended-s" aria-labelledby="ended-h" hidden>
<h2 id="ended-h">Ended while you watched</h2>
<ul id="ended" class="ended"></ul>
</section>"#;

const SEARCH: &str = r#"<h1>Search the chats</h1>
<form id="search" class="searchform" role="search" aria-label="Search the chats">
<label for="q">Words</label>
<input id="q" name="q" type="search" required maxlength="200" aria-describedby="q-hint">
<button type="submit">Search</button>
</form>
<p id="q-hint" class="hint">Every word must match; case and accents are ignored; end a word with * for a prefix. Chinese, Japanese and Korean text matches parts of words.</p>
<p id="summary" class="summary" role="status" aria-live="polite"></p>
<ol id="hits" class="hits"></ol>
<button id="more" type="button" class="more" hidden>More results</button>"#;

const ACCOUNTS: &str = r#"<h1>Accounts</h1>
<section aria-labelledby="add-h" class="panel">
<h2 id="add-h">Add an account to watch</h2>
<form id="add" class="addform">
<div class="field"><label for="a-user">Instagram user id</label><input id="a-user" name="user_id" required inputmode="numeric" pattern="[0-9]{1,20}" aria-describedby="a-user-hint"><small id="a-user-hint">The numeric id (pk), not the username.</small></div>
<div class="field"><label for="a-label">Label (optional)</label><input id="a-label" name="label" maxlength="64"></div>
<div class="actions"><button type="submit">Add</button></div>
</form>
<p id="msg" class="summary" role="status" aria-live="polite"></p>
</section>
<div class="table-wrap">
<table id="accounts" class="list">
<caption>Watch list and archive</caption>
<thead><tr><th scope="col">Account</th><th scope="col">State</th><th scope="col">Last live</th><th scope="col" class="num">Recordings</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody></tbody>
</table>
</div>
<p id="mode" class="hint"></p>"#;

const SESSIONS: &str = r#"<h1>Sessions</h1>
<p class="hint">The Instagram sessions iglive polls with: the <code>[[sessions]]</code> of the config, or the one <code>instagram.session_file</code>. The full figures (budgets, requests, push) are at <a href="/sessions">/sessions</a>.</p>
<div class="table-wrap">
<table id="sessions" class="list">
<caption class="visually-hidden">Sessions</caption>
<thead><tr><th scope="col">Session</th><th scope="col">Account</th><th scope="col">State</th><th scope="col" class="num">Slowdown</th><th scope="col" class="num">Throttle events</th><th scope="col">Details</th></tr></thead>
<tbody></tbody>
</table>
</div>
<p id="summary" class="summary" role="status" aria-live="polite"></p>"#;

const SYSTEM: &str = r#"<h1>System</h1>
<div class="columns">
<section aria-labelledby="ready-h"><h2 id="ready-h">Readiness</h2><p id="ready-state" class="summary" role="status"></p><ul id="ready" class="checks"></ul></section>
<section aria-labelledby="deps-h"><h2 id="deps-h">Dependencies</h2><ul id="deps" class="checks"></ul></section>
</div>
<section aria-labelledby="build-h"><h2 id="build-h">Build</h2><dl id="build" class="facts"></dl></section>
<section aria-labelledby="links-h"><h2 id="links-h">Endpoints</h2>
<ul class="links"><li><a href="/health">/health</a> liveness</li><li><a href="/ready">/ready</a> readiness (JSON)</li><li><a href="/metrics">/metrics</a> Prometheus metrics (daemon)</li><li><a href="/deps">/deps</a> dependencies (JSON)</li><li><a href="/build">/build</a> build (JSON)</li><li><a href="/openapi.json">/openapi.json</a> OpenAPI 3.1</li><li><a href="/docs">/docs</a> API documentation</li></ul>
</section>"#;

const DOCS: &str = r#"<h1>API documentation</h1>
<p id="doc-state" class="summary" role="status">Loading /openapi.json…</p>
<div id="doc" class="doc"></div>"#;

const NOT_FOUND: &str = r#"<h1>Not found</h1>
<p>There is no page here. <a href="/">See all recordings</a>.</p>"#;

fn html(page: Page) -> Response {
    let code = if page == Page::NotFound {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    (
        code,
        [(header::CACHE_CONTROL, "no-cache")],
        Html(shell(page)),
    )
        .into_response()
}

/// The not-found page (for the router's fallback).
pub fn not_found() -> Response {
    html(Page::NotFound)
}

fn asset(ctype: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Every page and asset.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { html(Page::Recordings) }))
        .route(
            "/recording/{broadcast_id}",
            get(|Path(_id): Path<String>| async { html(Page::Recording) }),
        )
        .route("/live", get(|| async { html(Page::Live) }))
        .route("/search", get(|| async { html(Page::Search) }))
        .route("/accounts", get(|| async { html(Page::Accounts) }))
        // `/sessions` is the status endpoint's JSON; the page of the pool is `/pool`.
        .route("/pool", get(|| async { html(Page::Sessions) }))
        .route("/system", get(|| async { html(Page::System) }))
        .route("/docs", get(|| async { html(Page::Docs) }))
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/docs.js",
            get(|| async { asset("text/javascript; charset=utf-8", DOCS_JS) }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/assets/icon.svg",
            get(|| async { asset("image/svg+xml", ICON_SVG) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { asset("image/svg+xml", ICON_SVG) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_have_landmarks_and_no_inline_code_or_external_assets() {
        for p in [
            Page::Recordings,
            Page::Recording,
            Page::Live,
            Page::Search,
            Page::Accounts,
            Page::Sessions,
            Page::System,
            Page::Docs,
            Page::NotFound,
        ] {
            let h = shell(p);
            for needed in [
                "<main id=\"main\"",
                "<nav aria-label=\"Main\">",
                "<header",
                "<footer",
                "lang=\"en\"",
            ] {
                assert!(h.contains(needed), "{p:?} lacks {needed}");
            }
            assert!(!h.contains("style="), "{p:?} has an inline style");
            assert_eq!(
                h.matches("<script").count(),
                h.matches("<script src=").count(),
                "{p:?}: inline script"
            );
            assert!(
                !h.contains("http://") && !h.contains("https://"),
                "{p:?} refers outside"
            );
            assert!(
                p == Page::NotFound || h.contains("aria-current=\"page\""),
                "{p:?}"
            );
        }
        for asset in [APP_JS, DOCS_JS, APP_CSS, ICON_SVG] {
            assert!(!asset.contains("innerHTML") && !asset.contains("outerHTML"));
            assert!(!asset.contains("insertAdjacentHTML") && !asset.contains("document.write"));
            assert!(!asset.contains("eval(") && !asset.contains("new Function"));
            // The SVG namespace is a name, not a fetch.
            let rest = asset.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !rest.contains("http://") && !rest.contains("https://"),
                "an external reference"
            );
        }
    }
}
