//! The sign-in link's message: built-in French templates (`sign_in_mail/`), rendered against
//! the facts `store::sessions::Store::request_sign_in` queued (the link's path, its validity)
//! and the server's address, so that the link in the mail is absolute.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use notifiers::{Rendered, TemplateSet};
use serde_json::Value;

fn templates() -> &'static Result<TemplateSet, String> {
    static SET: OnceLock<Result<TemplateSet, String>> = OnceLock::new();
    SET.get_or_init(|| {
        let files = BTreeMap::from([
            (
                "sign_in.subject.hbs".to_string(),
                include_str!("sign_in_mail/sign_in.subject.hbs").to_string(),
            ),
            (
                "sign_in.text.hbs".to_string(),
                include_str!("sign_in_mail/sign_in.text.hbs").to_string(),
            ),
            (
                "sign_in.html.hbs".to_string(),
                include_str!("sign_in_mail/sign_in.html.hbs").to_string(),
            ),
        ]);
        TemplateSet::from_sources(files).map_err(|e| e.to_string())
    })
}

/// The sign-in message of one actor: `base_url` is the server's address without a trailing
/// slash; the facts' `path` starts with `/`.
pub fn render(
    facts: &Value,
    base_url: &str,
    to_name: &str,
    to_email: &str,
) -> Result<Rendered, String> {
    let set = templates().as_ref().map_err(Clone::clone)?;
    let Some(path) = facts["path"].as_str().filter(|p| p.starts_with('/')) else {
        return Err("the sign-in notice has no link path".into());
    };
    let mut context = facts.clone();
    context["link"] = Value::String(format!("{}{path}", base_url.trim_end_matches('/')));
    context["recipient"] = serde_json::json!({ "name": to_name, "email": to_email });
    set.render("sign_in", &context).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_is_absolute_and_escaped_in_html() {
        let facts = serde_json::json!({
            "path": "/connexion/lien?jeton=abc&suite=%2Fcases%2Fx",
            "minutes": 15,
            "expires_long": "mardi 1er décembre 2026 à 09:15",
        });
        let r = render(
            &facts,
            "https://jalon.example.be/",
            "Anne <Greffe>",
            "a@example.org",
        )
        .unwrap();
        assert_eq!(r.subject, "Votre lien de connexion à jalon");
        assert!(r.text.contains("Bonjour Anne <Greffe>,"), "{}", r.text);
        assert!(
            r.text.contains(
                "\nhttps://jalon.example.be/connexion/lien?jeton=abc&suite=%2Fcases%2Fx\n"
            ),
            "{}",
            r.text
        );
        assert!(
            r.text
                .contains("valable 15 minutes, jusqu'au mardi 1er décembre 2026 à 09:15"),
            "{}",
            r.text
        );
        let html = r.html.unwrap();
        assert!(
            // Handlebars escapes `=` too; a browser reads the entities back.
            html.contains(
                "href=\"https://jalon.example.be/connexion/lien?jeton&#x3D;abc&amp;suite&#x3D;%2Fcases%2Fx\""
            ),
            "{html}"
        );
        assert!(html.contains("Anne &lt;Greffe&gt;"), "{html}");
    }

    #[test]
    fn a_notice_without_a_path_is_refused() {
        let err = render(
            &serde_json::json!({}),
            "http://localhost:8080",
            "A",
            "a@x.be",
        )
        .unwrap_err();
        assert_eq!(err, "the sign-in notice has no link path");
        let err = render(
            &serde_json::json!({ "path": "https://evil.example/" }),
            "http://localhost:8080",
            "A",
            "a@x.be",
        )
        .unwrap_err();
        assert_eq!(err, "the sign-in notice has no link path");
    }
}
