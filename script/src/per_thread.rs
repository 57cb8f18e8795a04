//! One [`Scripts`] engine and one [`Functions`] engine per thread, for
//! hosts that run scripts on a pool of threads (each compiles a script
//! once and keeps it by SHA1, and keeps the libraries it loaded).

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::engine::{EngineConfig, Functions, Scripts};
use crate::monitor::Monitor;

thread_local! {
    static SCRIPTS: RefCell<Option<Scripts>> = const { RefCell::new(None) };
    static FUNCTIONS: RefCell<Option<Functions>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's engine, made first with `config` (then
/// `on_new` sees its monitor, e.g. to register it with a watchdog).
/// `Err` when Lua could not be set up. `f` must not call back into this
/// function (one engine runs one script at a time).
pub fn with_thread_scripts<T>(
    config: impl FnOnce() -> EngineConfig,
    on_new: impl FnOnce(&Monitor),
    f: impl FnOnce(&mut Scripts) -> T,
) -> mlua::Result<T> {
    with_engine(
        &SCRIPTS,
        || Scripts::new(config()),
        |s| on_new(&s.monitor()),
        f,
    )
}

/// [`with_thread_scripts`] for this thread's FUNCTION engine (its
/// libraries stay loaded between calls).
pub fn with_thread_functions<T>(
    config: impl FnOnce() -> EngineConfig,
    on_new: impl FnOnce(&Monitor),
    f: impl FnOnce(&mut Functions) -> T,
) -> mlua::Result<T> {
    with_engine(
        &FUNCTIONS,
        || Functions::new(config()),
        |s| on_new(&s.monitor()),
        f,
    )
}

fn with_engine<E: 'static, T>(
    key: &'static LocalKey<RefCell<Option<E>>>,
    make: impl FnOnce() -> mlua::Result<E>,
    on_new: impl FnOnce(&E),
    f: impl FnOnce(&mut E) -> T,
) -> mlua::Result<T> {
    key.with(|cell| {
        let mut engine = cell.try_borrow_mut().map_err(|_| {
            mlua::Error::RuntimeError("the thread's script engine is already running".into())
        })?;
        if engine.is_none() {
            let made = make()?;
            on_new(&made);
            *engine = Some(made);
        }
        match engine.as_mut() {
            Some(e) => Ok(f(e)),
            None => Err(mlua::Error::RuntimeError(
                "the thread's script engine did not start".into(),
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_its_engine_and_its_scripts() {
        let mut made = 0;
        let sha = with_thread_scripts(
            EngineConfig::default,
            |_| made += 1,
            |s| s.load(b"return 7"),
        )
        .expect("lua")
        .expect("compiles");
        let known = with_thread_scripts(EngineConfig::default, |_| made += 1, |s| s.exists(&sha))
            .expect("lua");
        assert!(known);
        assert_eq!(made, 1);
        let other = std::thread::spawn(move || {
            with_thread_scripts(EngineConfig::default, |_| {}, |s| s.exists(&sha)).expect("lua")
        })
        .join()
        .expect("thread");
        assert!(!other, "another thread has its own engine");
    }
}
