//! The stream commands the proxy answers itself: XGROUP HELP and XINFO
//! HELP (every other stream command runs at the key's primary).

use bytes::Bytes;

use super::help::help_reply;

use crate::action::{Action, Ctx};

/// `XGROUP HELP`
pub(crate) fn xgroup_help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

/// `XINFO HELP`
pub(crate) fn xinfo_help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}
