//! The STOP page (HTML, fr/en). Every dynamic value is HTML-escaped.
//!
//! Owns: the page's words in both languages, its markup and its security headers.
//! May not: look at runs, check credentials, do IO.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::registry::Annotated;

/// Escape text for HTML content and attribute values (handlebars' escaping: `&<>"'`=`).
pub fn esc(s: &str) -> String {
    handlebars::html_escape(s)
}

/// An HTML page with the headers every page of the API carries: no script, no framing, no
/// caching, and a referrer policy that keeps the STOP form's `Origin` readable.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut resp = (status, Html(html)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Not `no-referrer`: with it Chromium sends `Origin: null` on the form POST, which the
    // same-origin check must refuse.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// Strings of the page in one language.
pub struct Strings {
    /// `fr` or `en`.
    pub lang: &'static str,
    /// Page title.
    pub title: &'static str,
    /// "Stop test {testid}?"
    pub confirm: &'static str,
    /// Explanation under the question.
    pub explain: &'static str,
    /// Button.
    pub button: &'static str,
    /// Labels of the details.
    pub promo: &'static str,
    /// Label.
    pub promo_type: &'static str,
    /// Label.
    pub started: &'static str,
    /// Title after a stop.
    pub stopped_title: &'static str,
    /// Text after a stop (followed by what became of the annotation).
    pub stopped_text: &'static str,
    /// The "stopped by hand" annotation is on the dashboard.
    pub annotation_posted: &'static str,
    /// Posting it failed (followed by Grafana's error).
    pub annotation_failed: &'static str,
    /// No Grafana credentials: no annotation.
    pub annotation_off: &'static str,
    /// A later request: the first one posts it, not known yet.
    pub annotation_pending: &'static str,
    /// Title when k6 is still finishing.
    pub stopping_title: &'static str,
    /// Text when k6 is still finishing.
    pub stopping_text: &'static str,
    /// No test running.
    pub none_title: &'static str,
    /// The requested test is not the running one.
    pub other_title: &'static str,
    /// Generic failure title.
    pub error_title: &'static str,
    /// Expired or forged form.
    pub expired: &'static str,
    /// Password needed.
    pub auth: &'static str,
    /// The wrapper did not acknowledge the stop in time.
    pub unconfirmed: &'static str,
}

/// French.
pub const FR: Strings = Strings {
    lang: "fr",
    title: "Arrêt d'urgence du test de charge",
    confirm: "Arrêter le test",
    explain: "k6 s'arrête proprement : les mesures déjà faites sont conservées et le tableau de bord les garde.",
    button: "ARRÊTER LE TEST",
    promo: "Promotion",
    promo_type: "Type",
    started: "Démarré à",
    stopped_title: "Test arrêté",
    stopped_text: "Le test est arrêté.",
    annotation_posted: "Une annotation « arrêté à la main » a été ajoutée au tableau de bord.",
    annotation_failed: "L'annotation « arrêté à la main » n'a pas pu être ajoutée au tableau de bord ; prévenez l'équipe technique. Erreur de Grafana :",
    annotation_off: "Aucune annotation n'a été ajoutée au tableau de bord : l'API de contrôle n'a pas d'accès à Grafana.",
    annotation_pending: "L'annotation « arrêté à la main » est ajoutée au tableau de bord par la première demande d'arrêt.",
    stopping_title: "Arrêt demandé",
    stopping_text: "k6 termine son arrêt propre (envoi des dernières mesures). Rechargez le tableau de bord dans quelques secondes.",
    none_title: "Aucun test en cours",
    other_title: "Ce test n'est plus en cours",
    error_title: "L'arrêt a échoué",
    expired: "Ce formulaire a expiré ou n'est pas valide : rouvrez la page d'arrêt depuis le tableau de bord.",
    auth: "Mot de passe requis (CONTROL_API_STOP_PASSWORD).",
    unconfirmed: "L'arrêt est enregistré mais pas encore confirmé par la machine qui lance k6 ; il sera appliqué dès qu'elle se reconnecte. Prévenez l'équipe technique (Ctrl+C sur la machine du test).",
};

/// English.
pub const EN: Strings = Strings {
    lang: "en",
    title: "Emergency stop of the load test",
    confirm: "Stop test",
    explain: "k6 stops gracefully: the measurements taken so far are kept and the dashboard keeps them.",
    button: "STOP THE TEST",
    promo: "Promotion",
    promo_type: "Type",
    started: "Started at",
    stopped_title: "Test stopped",
    stopped_text: "The test is stopped.",
    annotation_posted: "A \"stopped by hand\" annotation was added to the dashboard.",
    annotation_failed: "The \"stopped by hand\" annotation could not be added to the dashboard; tell the engineers. Grafana's error:",
    annotation_off: "No annotation was added to the dashboard: the control API has no access to Grafana.",
    annotation_pending: "The \"stopped by hand\" annotation is added to the dashboard by the first stop request.",
    stopping_title: "Stop requested",
    stopping_text: "k6 is finishing its graceful stop (sending its last measurements). Reload the dashboard in a few seconds.",
    none_title: "No test running",
    other_title: "This test is no longer running",
    error_title: "The stop failed",
    expired: "This form has expired or is not valid: open the stop page again from the dashboard.",
    auth: "Password required (CONTROL_API_STOP_PASSWORD).",
    unconfirmed: "The stop is recorded but not yet confirmed by the machine running k6; it is applied as soon as that machine reconnects. Tell the engineers (Ctrl+C on the test machine).",
};

/// Strings for a locale (French unless `en`).
pub fn strings(locale: &str) -> &'static Strings {
    if locale == "en" { &EN } else { &FR }
}

/// What became of the "stopped by hand" annotation, in the page's language (`None`: a later
/// request, the first one posts it).
pub fn annotation_text(s: &Strings, a: Option<&Annotated>) -> String {
    match a {
        Some(Annotated::Posted(_)) => s.annotation_posted.to_string(),
        Some(Annotated::Failed(e)) => {
            format!("{} {}.", s.annotation_failed, e.trim_end_matches('.'))
        }
        Some(Annotated::NotConfigured) => s.annotation_off.to_string(),
        None => s.annotation_pending.to_string(),
    }
}

/// A whole page around `body` (already escaped HTML).
pub fn page(s: &Strings, heading: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #222; }}
h1 {{ font-size: 1.6rem; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; }}
dt {{ font-weight: bold; }}
button {{ background: #c4162a; color: #fff; border: 0; border-radius: .4rem; font-size: 1.4rem; padding: 1rem 2rem; cursor: pointer; }}
.note {{ color: #555; }}
</style>
</head>
<body>
<h1 id="heading">{heading}</h1>
{body}
</body>
</html>
"#,
        lang = s.lang,
        title = esc(s.title),
        heading = esc(heading),
    )
}

/// The confirmation page with its form.
pub fn confirm(
    s: &Strings,
    testid: &str,
    promo: &str,
    promo_type: &str,
    started: &str,
    csrf: &str,
) -> String {
    let body = format!(
        r#"<dl>
<dt>Test</dt><dd id="testid">{testid}</dd>
<dt>{l_promo}</dt><dd>{promo}</dd>
<dt>{l_type}</dt><dd>{promo_type}</dd>
<dt>{l_started}</dt><dd>{started}</dd>
</dl>
<p class="note">{explain}</p>
<form method="post" action="/stop">
<input type="hidden" name="testid" value="{testid}">
<input type="hidden" name="csrf" value="{csrf}">
<button id="stop" type="submit">{button}</button>
</form>
"#,
        testid = esc(testid),
        promo = esc(promo),
        promo_type = esc(promo_type),
        started = esc(started),
        csrf = esc(csrf),
        l_promo = esc(s.promo),
        l_type = esc(s.promo_type),
        l_started = esc(s.started),
        explain = esc(s.explain),
        button = esc(s.button),
    );
    page(
        s,
        &format!("{} {testid} ?", s.confirm).replace(" ?", if s.lang == "fr" { " ?" } else { "?" }),
        &body,
    )
}

/// A page with a heading and one paragraph, answered with `status` (through [`respond`]).
pub fn message(status: StatusCode, s: &Strings, heading: &str, text: &str) -> Response {
    respond(
        status,
        page(
            s,
            heading,
            &format!("<p id=\"message\">{}</p>\n", esc(text)),
        ),
    )
}
