//! `GET /console` and its assets: the browser console (README "Console"), plain
//! HTML, CSS and JavaScript compiled into the function, so nothing is built or
//! stored beside it. The page holds no data: it signs in with the user's API key
//! or teammate password and calls the public `/v1` API on the same origin, so it
//! shows nothing its user could not fetch with curl.

use crate::error::ApiError;
use crate::http::{Ctx, Reply};

/// (path, content type, file): every file the console serves, each a route of its
/// own in infra/routes.tsv.
const ASSETS: [(&str, &str, &str); 3] = [
    ("/console", "text/html; charset=utf-8", include_str!("../../console/index.html")),
    ("/console/app.js", "text/javascript; charset=utf-8", include_str!("../../console/app.js")),
    ("/console/style.css", "text/css; charset=utf-8", include_str!("../../console/style.css")),
];

/// Only the console's own files run or style the page, and it talks only to its
/// own origin: an injected `<script>` or inline handler does nothing, and no data
/// leaves for another host. Which pages may frame it ends the policy ([`framed_by`]).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors";

/// Which pages may frame the console page (CSP `frame-ancestors`, API.md §5b). The page
/// at `/console?partner=<id>` may be framed by the `consoleOrigins` of that partner and
/// of every partner above it (a platform names its dashboard once, on its root partner,
/// for its whole tree), unless one of them is suspended; any other page, by none.
async fn framed_by(cx: &Ctx) -> Result<String, ApiError> {
    const NONE: &str = "'none'";
    let Some(id) = cx.query("partner").filter(|id| crate::domain::is_id(id)) else { return Ok(NONE.into()) };
    let Some(partner) = cx.app.store.partner(&id).await? else { return Ok(NONE.into()) };
    let chain = cx.app.store.partners(&partner.path).await?;
    if chain.len() != partner.path.len() || chain.iter().any(|p| p.suspended) {
        return Ok(NONE.into());
    }
    let mut origins: Vec<&str> = chain.iter().flat_map(|p| p.console_origins.iter().map(String::as_str)).collect();
    origins.sort_unstable();
    origins.dedup();
    Ok(if origins.is_empty() { NONE.into() } else { origins.join(" ") })
}

/// Serves the console file the path names.
///
/// # Errors
/// `not_found` for a path that names no file; 503 when the store cannot say who may
/// frame the page.
pub async fn asset(cx: Ctx) -> Result<Reply, ApiError> {
    let path = cx.req.uri().path();
    let (_, content_type, text) =
        ASSETS.iter().find(|(p, ..)| *p == path).ok_or_else(|| ApiError::NotFound(format!("Route {path}")))?;
    // Only the page can be framed; its script and styles are never documents.
    let ancestors = if path == "/console" { framed_by(&cx).await? } else { "'none'".to_owned() };
    Ok(Reply::file(content_type, text)
        .header("content-security-policy", format!("{CONTENT_SECURITY_POLICY} {ancestors}"))
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        // Small files: always revalidated, so a deploy shows at once.
        .header("cache-control", "no-cache"))
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    #[test]
    fn every_console_route_serves_a_file_and_every_file_has_a_route() {
        let routed: Vec<&str> =
            crate::routes::ROUTES.iter().map(|(path, _)| *path).filter(|p| p.starts_with("/console")).collect();
        let served: Vec<&str> = ASSETS.iter().map(|(path, ..)| *path).collect();
        assert_eq!(routed, served);
    }

    #[test]
    fn the_page_loads_only_the_console_files_and_runs_no_inline_script() {
        let html = ASSETS[0].2;
        for (path, ..) in &ASSETS[1..] {
            assert!(html.contains(&format!("\"{path}\"")), "the page links {path}");
        }
        assert_eq!(html.matches("<script").count(), 1, "one script element");
        assert!(html.contains("<script type=\"module\" src=\"/console/app.js\"></script>"));
        let handler = html.split_whitespace().find(|word| word.starts_with("on") && word.contains('='));
        assert_eq!(handler, None, "no inline event handlers");
        assert!(!html.contains("javascript:"), "no javascript: URLs");
        assert!(!html.contains("style="), "no inline styles (the policy refuses them)");
    }
}
