//! What to change on a Cisco ASA for each trace of its ESMTP inspection, as fixed texts for
//! the middlebox verdicts' explanations.
//!
//! Macros, not functions: the texts are put together at compile time (`concat!`), since they
//! only ever combine fixed words and a verdict that fires should not format them each time.

/// What to change on the ASA, naming the setting as `show service-policy inspect esmtp` prints
/// it (the default map `_default_esmtp_map`, or the one the policy names).
macro_rules! asa_fix {
    ($setting:expr, $change:expr) => {
        concat!(
            "On a Cisco ASA the setting is `",
            $setting,
            "` in the ESMTP inspection policy map (`show service-policy inspect esmtp` lists it with its hit \
             count): ",
            $change,
            ", under `policy-map type inspect esmtp` (a copy of `_default_esmtp_map` referenced by `inspect \
             esmtp` in the global policy), or exempt this traffic from `inspect esmtp`. A capture on the \
             server's side of the firewall confirms it: there the bytes are intact."
        )
    };
}

macro_rules! mask_banner_fix {
    () => {
        asa_fix!("mask-banner", "under `parameters`, `no mask-banner` lets the server's greeting through unchanged")
    };
}

macro_rules! ehlo_mask_fix {
    () => {
        asa_fix!(
            "match ehlo-reply-parameter others` with action `mask",
            "`no match ehlo-reply-parameter others` (or its action `log` instead of `mask`) keeps EHLO \
             keywords; for STARTTLS also add `allow-tls` under `parameters`, or the ASA masks the STARTTLS \
             command itself"
        )
    };
}

macro_rules! command_mask_fix {
    () => {
        asa_fix!(
            "parameters` (commands outside the inspected list are masked; STARTTLS needs `allow-tls`",
            "add `allow-tls` under `parameters` so STARTTLS and the TLS session pass"
        )
    };
}

/// The default `drop-connection log` match a limit comes from, and what to change.
macro_rules! limit_fix {
    ($setting:expr, $what:expr) => {
        asa_fix!(
            concat!($setting, "` / `drop-connection log"),
            concat!("raise the limit (", $what, ") or change the action to `log` only")
        )
    };
}

/// A built-in protocol check of ESMTP inspection: no `match` to change.
macro_rules! builtin_check_fix {
    ($check:expr) => {
        concat!(
            "This is a built-in check of Cisco ASA ESMTP inspection (",
            $check,
            "), not a `match` line of the policy map, so no limit can be raised: fix the sending side, or \
             exempt this traffic from `inspect esmtp` (a class-map for these hosts without it). `show \
             service-policy inspect esmtp` counts the drops; a capture on the server's side of the firewall \
             shows the line never arrived."
        )
    };
}
