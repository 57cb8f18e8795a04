//! `ACL SETUSER DELUSER LIST USERS WHOAMI GETUSER CAT GENPASS HELP` over the
//! proxy's users ([`crate::acl`]).

use bytes::Bytes;
use futures::FutureExt;
use petrel_common::reply::Reply;
use rand::Rng;

use super::help::help_reply;
use crate::action::{Action, Ctx};
use crate::cluster_acl;
use crate::util::c_str;

fn text_args(args: &[Bytes]) -> Vec<String> {
    args.iter().map(|a| c_str(a)).collect()
}

/// `ACL SETUSER name rule...`: checked here, kept by meta for the whole
/// cluster ([`crate::cluster_acl`]), applied here once meta has it.
pub(crate) fn setuser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let args = text_args(args);
    let name = args[2].clone();
    let rules: Vec<&str> = args[3..].iter().map(String::as_str).collect();
    let line = match ctx.shared.acl.preview(&name, &rules) {
        Ok(line) => line,
        Err(e) => return Action::Reply(Reply::Error(crate::util::one_line(&e))),
    };
    let shared = ctx.shared.clone();
    Action::Later(
        async move {
            let setting = (cluster_acl::setting_name(&name), line.clone());
            if let Err(why) = shared.settings.set(vec![setting]).await {
                return not_stored(&why);
            }
            match shared.acl.replace(&name, &line) {
                Ok(()) => Reply::ok(),
                Err(e) => Reply::Error(crate::util::one_line(&e)),
            }
        }
        .boxed(),
    )
}

/// `ACL DELUSER name...`: how many existed; removed for the whole cluster,
/// and every other connection logged in as one of them is closed (here at
/// once, through other proxies at their next look at meta). The asking
/// connection stays open (Redis closes it after the reply).
pub(crate) fn deluser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let args = text_args(args);
    let names: Vec<String> = args[2..].to_vec();
    if names.iter().any(|n| n == "default") {
        return Action::Reply(Reply::error("ERR The 'default' user cannot be removed"));
    }
    let shared = ctx.shared.clone();
    let me = ctx.session.id();
    Action::Later(
        async move {
            let settings = names
                .iter()
                .map(|n| (cluster_acl::setting_name(n), String::new()))
                .collect();
            if let Err(why) = shared.settings.set(settings).await {
                return not_stored(&why);
            }
            let removed: Vec<&String> = names.iter().filter(|n| shared.acl.remove(n)).collect();
            for n in &removed {
                shared.clients.kill_user(n, Some(me));
            }
            Reply::Int(removed.len() as i64)
        }
        .boxed(),
    )
}

/// The error when meta did not take an ACL change (nothing changed here).
fn not_stored(why: &str) -> Reply {
    Reply::error(crate::util::one_line(&format!(
        "ERR the ACL change could not be stored for the cluster: {why}"
    )))
}

pub(crate) fn list(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Array(
        ctx.shared.acl.list().into_iter().map(Reply::bulk).collect(),
    ))
}

pub(crate) fn users(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Array(
        ctx.shared
            .acl
            .names()
            .into_iter()
            .map(Reply::bulk)
            .collect(),
    ))
}

pub(crate) fn whoami(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::bulk(ctx.session.user.clone()))
}

pub(crate) fn getuser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(u) = ctx.shared.acl.user(&c_str(&args[2])) else {
        return Action::Reply(Reply::Nil);
    };
    let bulks = |v: Vec<String>| Reply::Array(v.into_iter().map(Reply::bulk).collect());
    let mut flags = u.flags();
    if u.nopass {
        flags.push("nopass".into());
    }
    let channels = if u.all_channels {
        "&*".to_string()
    } else {
        u.channels.join(" ")
    };
    let field = |k: &str, v: Reply| (Reply::bulk(k.to_string()), v);
    Action::Reply(Reply::Map(vec![
        field("flags", bulks(flags)),
        field("passwords", bulks(u.passwords.iter().cloned().collect())),
        field("commands", Reply::bulk(u.commands())),
        field("keys", Reply::bulk(u.keys.join(" "))),
        field("channels", Reply::bulk(channels)),
        field("selectors", Reply::Array(Vec::new())),
    ]))
}

pub(crate) fn cat(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let all = crate::acl::categories();
    let Some(wanted) = args.get(2) else {
        return Action::Reply(Reply::Array(all.into_iter().map(Reply::bulk).collect()));
    };
    let wanted = c_str(wanted).to_ascii_lowercase();
    if !all.contains(wanted.as_str()) {
        return Action::Reply(Reply::Error(format!(
            "ERR Unknown category '{}'",
            c_str(&args[2])
        )));
    }
    let Some(category) = petrel_common::command::AclCategories::named(&wanted) else {
        return Action::Reply(Reply::Array(Vec::new()));
    };
    let names = petrel_common::command::table()
        .iter()
        .filter(|c| !c.is_internal() && c.def.acl.contains(category))
        .map(|c| Reply::bulk(c.name()))
        .collect();
    Action::Reply(Reply::Array(names))
}

pub(crate) fn genpass(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let bits = match args.get(2) {
        None => 256,
        Some(b) => match crate::util::parse_i64(b) {
            Some(n) if (1..=4096).contains(&n) => n,
            _ => {
                return Action::Reply(Reply::error(
                    "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
                ))
            }
        },
    };
    let chars = (bits as usize).div_ceil(4);
    let mut rng = rand::thread_rng();
    let pass: String = (0..chars)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect();
    Action::Reply(Reply::bulk(pass))
}

pub(crate) fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    )
}
