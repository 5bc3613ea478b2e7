//! Link previews: title, description, canonical URL, site name, image and favicon from Open Graph, Twitter cards, oEmbed and HTML fallbacks.

use crate::client::Fetcher;
use crate::error::FetchError;
use crate::model::FetchRequest;
use crate::target::url_canonical;
use palisade_core::TenantId;
use scraper::{Html, Selector};
use serde::Serialize;
use std::collections::HashMap;
use url::Url;

/// The body cap of the HTML page of a preview.
const PAGE_MAX: u64 = 2 * 1024 * 1024;
/// The body cap of an oEmbed document.
const OEMBED_MAX: u64 = 256 * 1024;
/// The longest URL kept in a preview.
const URL_MAX: usize = 2048;

/// What to preview, and for whom (the tenant's allowlist applies to the page and to oEmbed).
#[derive(Debug, Clone)]
pub struct PreviewRequest {
    /// The page URL.
    pub url: String,
    /// The tenant asking.
    pub tenant: Option<TenantId>,
    /// Who asked (a key id or principal), named in the audit event of a blocked fetch.
    pub actor: Option<String>,
}

/// A page's preview. Texts are plain, sanitised text (escape them when rendering HTML); URLs are
/// absolute http(s) URLs without userinfo. Image and favicon URLs are not fetched here: fetch
/// them through the [`Fetcher`] too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// The URL the page was finally fetched from (after redirects).
    pub url: String,
    /// The title.
    pub title: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// The canonical URL the page declares (`og:url`, `<link rel=canonical>`), else `url`.
    pub canonical_url: String,
    /// The site's name.
    pub site_name: Option<String>,
    /// The main image.
    pub image: Option<PreviewImage>,
    /// The favicon (declared, else `/favicon.ico`).
    pub favicon: String,
    /// How long the page's `Cache-Control` lets a shared cache keep it (see
    /// [`FetchResponse::cache_for`](crate::FetchResponse::cache_for)); not part of the preview.
    #[serde(skip)]
    pub cache_for: Option<std::time::Duration>,
}

/// A preview's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewImage {
    /// Its URL.
    pub url: String,
    /// Its width in pixels, when declared.
    pub width: Option<u32>,
    /// Its height in pixels, when declared.
    pub height: Option<u32>,
    /// Its alternative text.
    pub alt: Option<String>,
}

/// Fetches a page (HTML only, at most 2 MB) and builds its preview; an oEmbed document the page
/// links is fetched through the same checks and fills what the page lacks.
pub async fn preview_build(fetcher: &Fetcher, req: PreviewRequest) -> Result<Preview, FetchError> {
    let mut page = FetchRequest::get(req.url)
        .accepting(&["text/html", "application/xhtml+xml"])
        .on_behalf("preview", req.actor.clone());
    page.tenant = req.tenant.clone();
    page.max_body = Some(PAGE_MAX);
    let resp = fetcher.fetch(page).await?;
    let html = String::from_utf8_lossy(&resp.body);
    let facts = PageFacts::parse(&html, &resp.url);
    let oembed = match &facts.oembed {
        Some(u) => oembed_fetch(fetcher, u, req.tenant, req.actor).await,
        None => None,
    };
    let mut preview = facts.preview(&resp.url, oembed.unwrap_or_default());
    preview.cache_for = resp.cache_for();
    Ok(preview)
}

/// What the HTML says, before any fallback.
#[derive(Debug, Default)]
struct PageFacts {
    meta: HashMap<String, String>,
    title: Option<String>,
    canonical: Option<Url>,
    icon: Option<Url>,
    oembed: Option<Url>,
}

impl PageFacts {
    /// Reads `<meta>` (first value of each key wins), `<title>` and the `<link>`s of `html`.
    fn parse(html: &str, base: &Url) -> Self {
        let doc = Html::parse_document(html);
        let mut facts = PageFacts::default();
        for el in doc.select(&sel("meta[content]")) {
            let v = el.value();
            let key = v.attr("property").or_else(|| v.attr("name"));
            if let (Some(k), Some(c)) = (key, v.attr("content")) {
                facts
                    .meta
                    .entry(k.trim().to_ascii_lowercase())
                    .or_insert_with(|| c.to_owned());
            }
        }
        facts.title = doc.select(&sel("title")).next().map(|t| t.text().collect());
        for el in doc.select(&sel("link[href]")) {
            let v = el.value();
            let rel = v.attr("rel").unwrap_or("").to_ascii_lowercase();
            let href = v.attr("href").and_then(|h| url_abs(base, h));
            let rels: Vec<&str> = rel.split_ascii_whitespace().collect();
            if rels.contains(&"canonical") && facts.canonical.is_none() {
                facts.canonical = href;
            } else if rels.contains(&"icon") && facts.icon.is_none() {
                facts.icon = href;
            } else if rels.contains(&"alternate")
                && v.attr("type")
                    .is_some_and(|t| t.eq_ignore_ascii_case("application/json+oembed"))
                && facts.oembed.is_none()
            {
                facts.oembed = href;
            }
        }
        facts
    }

    fn first(&self, keys: &[&str], max: usize) -> Option<String> {
        keys.iter()
            .find_map(|k| self.meta.get(*k).and_then(|v| text_clean(v, max)))
    }

    fn url_first(&self, base: &Url, keys: &[&str]) -> Option<Url> {
        keys.iter()
            .find_map(|k| self.meta.get(*k).and_then(|v| url_abs(base, v)))
    }

    /// The preview: Open Graph, then Twitter cards, then plain HTML, then oEmbed.
    fn preview(&self, base: &Url, oembed: OEmbed) -> Preview {
        let title = self
            .first(&["og:title", "twitter:title"], 300)
            .or_else(|| self.title.as_deref().and_then(|t| text_clean(t, 300)))
            .or_else(|| oembed.title.as_deref().and_then(|t| text_clean(t, 300)));
        let canonical = self
            .url_first(base, &["og:url"])
            .or_else(|| self.canonical.clone());
        let site_name = self
            .first(&["og:site_name", "application-name"], 100)
            .or_else(|| {
                oembed
                    .provider_name
                    .as_deref()
                    .and_then(|t| text_clean(t, 100))
            });
        Preview {
            url: base.to_string(),
            title,
            description: self.first(
                &["og:description", "twitter:description", "description"],
                1000,
            ),
            canonical_url: canonical.unwrap_or_else(|| base.clone()).to_string(),
            site_name,
            image: self.image(base).or_else(|| oembed.image(base)),
            favicon: self
                .icon
                .clone()
                .or_else(|| base.join("/favicon.ico").ok())
                .map_or_else(String::new, |u| u.to_string()),
            cache_for: None,
        }
    }

    fn image(&self, base: &Url) -> Option<PreviewImage> {
        let url = self.url_first(
            base,
            &[
                "og:image:secure_url",
                "og:image:url",
                "og:image",
                "twitter:image",
                "twitter:image:src",
            ],
        )?;
        Some(PreviewImage {
            url: url.to_string(),
            width: self.meta.get("og:image:width").and_then(|w| dimension(w)),
            height: self.meta.get("og:image:height").and_then(|h| dimension(h)),
            alt: self.first(&["og:image:alt", "twitter:image:alt"], 300),
        })
    }
}

/// The fields of an oEmbed document a preview uses.
#[derive(Debug, Default, serde::Deserialize)]
struct OEmbed {
    title: Option<String>,
    provider_name: Option<String>,
    thumbnail_url: Option<String>,
    thumbnail_width: Option<serde_json::Value>,
    thumbnail_height: Option<serde_json::Value>,
}

impl OEmbed {
    fn image(&self, base: &Url) -> Option<PreviewImage> {
        let url = url_abs(base, self.thumbnail_url.as_deref()?)?;
        let dim = |v: &Option<serde_json::Value>| match v {
            Some(serde_json::Value::Number(n)) => {
                n.as_u64().and_then(|n| dimension(&n.to_string()))
            }
            Some(serde_json::Value::String(s)) => dimension(s),
            _ => None,
        };
        Some(PreviewImage {
            url: url.to_string(),
            width: dim(&self.thumbnail_width),
            height: dim(&self.thumbnail_height),
            alt: None,
        })
    }
}

/// Fetches a discovered oEmbed document through the same checks; any failure only drops it.
async fn oembed_fetch(
    fetcher: &Fetcher,
    url: &Url,
    tenant: Option<TenantId>,
    actor: Option<String>,
) -> Option<OEmbed> {
    let mut req = FetchRequest::get(url.as_str())
        .accepting(&["application/json", "text/json", "text/javascript"])
        .on_behalf("preview.oembed", actor);
    req.tenant = tenant;
    req.max_body = Some(OEMBED_MAX);
    match fetcher.fetch(req).await {
        Ok(r) => serde_json::from_slice(&r.body).ok(),
        Err(e) => {
            tracing::debug!(code = e.code(), "oEmbed document not used");
            None
        }
    }
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("static selector")
}

/// `href` made absolute against `base`, canonical, http(s) only, without userinfo.
fn url_abs(base: &Url, href: &str) -> Option<Url> {
    let joined = base.join(href.trim()).ok()?;
    url_canonical(joined.as_str(), URL_MAX).ok()
}

/// A declared pixel dimension (1 to 100000).
fn dimension(s: &str) -> Option<u32> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=100_000).contains(n))
}

/// Plain text from a page value: markup removed, control and bidi-override characters dropped,
/// whitespace collapsed, at most `max` characters; `None` when nothing is left.
pub fn text_clean(raw: &str, max: usize) -> Option<String> {
    let text: String = Html::parse_fragment(raw).root_element().text().collect();
    let kept: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}' | '\u{feff}'))
        .collect();
    let out: String = kept
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_plain_and_bounded() {
        assert_eq!(
            text_clean("  <b>Hi</b>\n\tthere &amp; you\u{202e}\u{0007} ", 100).as_deref(),
            Some("Hi there & you")
        );
        assert_eq!(text_clean("<script>x</script>", 100).as_deref(), Some("x"));
        assert_eq!(text_clean("abcdef", 3).as_deref(), Some("abc"));
        assert_eq!(text_clean(" \u{200b} ", 10), None);
    }

    #[test]
    fn urls_are_absolute_http_without_userinfo() {
        let base = Url::parse("https://example.com/a/b").unwrap();
        assert_eq!(
            url_abs(&base, "../img.png").unwrap().as_str(),
            "https://example.com/img.png"
        );
        assert!(url_abs(&base, "javascript:alert(1)").is_none());
        assert!(url_abs(&base, "https://u:p@example.com/").is_none());
        assert!(url_abs(&base, "data:image/png;base64,AAAA").is_none());
    }
}
