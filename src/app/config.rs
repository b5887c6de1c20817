//! Command-line options → library configuration.

use smtpdiag::cli::AnalysisArgs;
use smtpdiag::diagnose::DiagnoseConfig;
use smtpdiag::session::AnalyzerConfig;
use smtpdiag::smtp::SmtpConfig;
use smtpdiag::tcp::flow::{DEFAULT_PORTS, TcpConfig};
use smtpdiag::tcp::reassembly::ReassemblyLimits;

pub fn analyzer(args: &AnalysisArgs) -> AnalyzerConfig {
    let ports = if args.ports.is_empty() { DEFAULT_PORTS.to_vec() } else { args.ports.clone() };
    AnalyzerConfig {
        tcp: TcpConfig {
            ports,
            limits: ReassemblyLimits { max_buffered_bytes: args.max_flow_buffer, ..ReassemblyLimits::default() },
            max_buffered_total: args.max_buffer,
            max_flows: args.max_flows.max(1),
            memcap: args.memcap,
            idle_timeout_s: args.idle,
            half_open_timeout_s: args.half_open,
            max_events: args.max_events,
            ..TcpConfig::default()
        },
        smtp: SmtpConfig {
            max_line_len: args.max_line.max(64),
            personal_headers: args.headers,
            ..SmtpConfig::default()
        },
    }
}

pub fn diagnose(args: &AnalysisArgs) -> DiagnoseConfig {
    DiagnoseConfig { idle_timeout_s: args.idle_threshold, client_stall_s: args.stall, ..DiagnoseConfig::default() }
}
