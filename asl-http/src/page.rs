//! `GET /`: a small page to pick or drop photos (or a zip) and see the letters and the word.
//! Plain HTML and JS compiled into the binary; no build step.
use axum::response::Html;

pub const INDEX_HTML: &str = include_str!("../static/index.html");

pub async fn index() -> Html<&'static str> {
    Html(INDEX_HTML)
}
