//! The shared shapes of `HELP` replies and of a subcommand's syntax error.

use bytes::Bytes;
use petrel_common::reply::Reply;

use crate::action::Action;

/// Redis's HELP layout: a header line, the entries, then HELP itself, as status lines.
pub(crate) fn help_reply(command: &str, lines: &[&str]) -> Action {
    let mut out = vec![Reply::Status(format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ))];
    out.extend(lines.iter().map(|l| Reply::Status((*l).to_string())));
    out.push(Reply::Status("HELP".into()));
    out.push(Reply::Status("    Prints this help.".into()));
    Action::Reply(Reply::Array(out))
}

/// Redis's `addReplySubcommandSyntaxError`: a subcommand given too many
/// arguments, named as the client typed it.
pub(crate) fn subcommand_syntax_error(args: &[Bytes]) -> Reply {
    Reply::error(petrel_common::reply::errors::subcommand_syntax(args))
}
