//! The handlebars registry the dashboard templates render with: strict mode, no HTML escaping
//! (the output is JSON), and our helpers — `json` (a value as JSON), `flux_string` (a
//! translated text as a Flux string literal inside a JSON string) and `influxql` / `flux` (the
//! query of a statistic, from [`crate::influx::formulas`]).
//!
//! Owns: the helpers. May not: do IO, know the manifest.

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};
use serde_json::Value;

pub(super) fn new_registry() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper(
        "json",
        Box::new(FnHelper("json", |n, h| Ok(value_param(n, h)?.to_string()))),
    );
    // `{{flux_string t.key}}` inside a JSON string holding a Flux query.
    hb.register_helper(
        "flux_string",
        Box::new(FnHelper("flux_string", |n, h| {
            Ok(flux_string_in_json(value_param(n, h)?))
        })),
    );
    hb.register_helper(
        "influxql",
        Box::new(FnHelper("influxql", |n, h| formula(n, h, false))),
    );
    hb.register_helper(
        "flux",
        Box::new(FnHelper("flux", |n, h| formula(n, h, true))),
    );
    hb
}

/// A helper writing what a function makes of its parameters: `json` (the value as JSON),
/// `flux_string` ([`flux_string_in_json`]), `influxql` and `flux` ([`formula`]).
struct FnHelper(
    &'static str,
    fn(&'static str, &Helper<'_>) -> Result<String, RenderErrorReason>,
);

impl handlebars::HelperDef for FnHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        out.write(&(self.1)(self.0, h)?)?;
        Ok(())
    }
}

/// The helper's one parameter (strict mode does not cover helper parameters: a missing
/// variable is refused here too).
fn value_param<'a>(
    helper: &'static str,
    h: &'a Helper<'_>,
) -> Result<&'a Value, RenderErrorReason> {
    let param = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex(helper, 0))?;
    if param.is_value_missing() {
        return Err(RenderErrorReason::MissingVariable(Some(
            param.relative_path().cloned().unwrap_or_default(),
        )));
    }
    Ok(param.value())
}

/// The text as one Flux string literal (quotes; `\`, `"` and `${` escaped for Flux), escaped
/// again to sit inside a JSON string.
pub(super) fn flux_string_in_json(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    in_json(&crate::influx::formulas::flux_string(&text))
}

/// `text` escaped to sit inside a JSON string.
fn in_json(text: &str) -> String {
    // A JSON string always has its two quotes.
    let json = Value::String(text.to_string()).to_string();
    json[1..json.len() - 1].to_string()
}

/// `{{influxql "p95"}}` (one number over the dashboard's time range) and
/// `{{influxql "p50" "$__interval"}}` (one per interval): the InfluxQL of a statistic for the
/// `$testid` run, from [`crate::influx::formulas`] (the one definition `runs` queries with too).
/// `{{flux "p95"}}` / `{{flux "p50" "v.windowPeriod"}}`: the Flux pipeline after the source.
fn formula(helper: &'static str, h: &Helper<'_>, flux: bool) -> Result<String, RenderErrorReason> {
    use crate::influx::formulas::{self, InfluxQl, Stat};
    let name = value_param(helper, h)?
        .as_str()
        .ok_or(RenderErrorReason::ParamNotFoundForIndex(helper, 0))?;
    let stat = Stat::parse(name).ok_or_else(|| {
        RenderErrorReason::Other(format!(
            "{helper}: no statistic `{name}` (known: {})",
            Stat::ALL.map(Stat::name).join(", ")
        ))
    })?;
    let every = h.param(1).and_then(|p| p.value().as_str());
    let text = match (flux, every) {
        (false, None) => InfluxQl::dashboard().whole(stat),
        (false, Some(i)) => InfluxQl::dashboard().per(stat, i),
        (true, None) => formulas::flux_whole(stat),
        (true, Some(e)) => formulas::flux_per(stat, e),
    };
    Ok(in_json(&text))
}
