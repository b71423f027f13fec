//! The manifest's default values: one table, one function per defaulted key (serde's
//! `default = "..."` needs a function).
//!
//! Owns: the defaults. May not: hold anything else.

use crate::manifest::Sp;

/// `name: Type = value;` → `fn name() -> Sp<Type>`, the value with no source position.
macro_rules! defaults {
    ($($name:ident: $ty:ty = $value:expr;)*) => {
        $(
            pub(super) fn $name() -> Sp<$ty> {
                Sp::new(<$ty>::from($value))
            }
        )*
    };
}

defaults! {
    default_locale: String = "fr";
    default_influx_port: u32 = 8086_u32;
    default_grafana_port: u32 = 3000_u32;
    default_control_port: u32 = 5000_u32;
    default_bind: String = "127.0.0.1";
    default_org: String = "promo-analyzer";
    default_bucket: String = "k6";
    default_retention: String = "30d";
    default_influx_admin: String = "promo-admin";
    default_admin_user: String = "admin";
    default_true: bool = true;
    default_control_image: String = concat!("promo-infra:", env!("CARGO_PKG_VERSION"));
    default_p95_ok: f64 = 1000.0;
    default_p95_warn: f64 = 2000.0;
    default_err_ok: f64 = 0.1;
    default_err_warn: f64 = 1.0;
    default_err_crit: f64 = 5.0;
    default_p95_alert: f64 = 3000.0;
    default_backup_dir: String = "backups";
    default_project_dir: String = "/opt/promo-infra";
    default_backup_user: String = "root";
    default_binary: String = "/usr/local/bin/promo-infra";
    default_influx_rpc: String = "127.0.0.1:8088";
    default_k6_output: String = "bin/k6";
    default_network: String = "monitoring-net";
    default_grafana_home: String = "/usr/share/grafana";
    default_data_dir: String = "data";
}
