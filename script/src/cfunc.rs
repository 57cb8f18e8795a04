//! C closures standing in for Redis's C functions.
//!
//! Redis implements `redis.call`, `cjson.encode`, `rawset` and the rest in
//! C, which matters to scripts in two ways: a C function called in tail
//! position (`return redis.call(...)`) leaves the caller's frame in place, so
//! an error still reports the script's line; and an error raised from C
//! can be any Lua value (Redis raises tables). mlua's Rust callbacks raise
//! their own error userdata instead, so each such function is an `inner`
//! function (Lua or Rust) answering `true, results...` or
//! `false, error [, add_position]`, wrapped in this small C closure that
//! raises the error value itself, as Redis's C code does.

use std::os::raw::c_int;

use mlua::{ffi, Function, Lua, MultiValue, Value};

/// Stands in an error message for the function's name, which only the
/// trampoline knows (`bad argument #1 to 'encode'`, or `'?'` through pcall).
pub(crate) const NAME_SLOT: &str = "\u{1}";
const NAME_SLOT_C: &std::ffi::CStr = c"\x01";
/// Starts a message raised without the caller's position, as Lua's own
/// runtime errors from C are (`table index is nil`).
pub(crate) const NO_POSITION: char = '\u{2}';

/// The closure: calls upvalue 1 with its arguments and returns or raises.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with a valid state; only Lua's API is used,
    // and this frame owns nothing that a longjmp (lua_error) could leak.
    unsafe {
        let n = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, n, ffi::LUA_MULTRET);
        let got = ffi::lua_gettop(state);
        if got >= 1 && ffi::lua_toboolean(state, 1) != 0 {
            ffi::lua_remove(state, 1);
            return got - 1;
        }
        let with_position = got >= 3 && ffi::lua_toboolean(state, 3) != 0;
        ffi::lua_settop(state, 2);
        if with_position && ffi::lua_type(state, 2) == ffi::LUA_TSTRING {
            // luaL_argerror names the function as its caller called it.
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            let mut name = c"?".as_ptr();
            if ffi::lua_getstack(state, 0, &mut ar) != 0
                && ffi::lua_getinfo(state, c"n".as_ptr(), &mut ar) != 0
                && !ar.name.is_null()
            {
                name = ar.name;
            }
            ffi::luaL_gsub(
                state,
                ffi::lua_tostring(state, 2),
                NAME_SLOT_C.as_ptr(),
                name,
            );
            ffi::lua_replace(state, 2);
        }
        if with_position {
            // luaL_error's "chunk:line:" of the caller.
            ffi::luaL_where(state, 1);
            ffi::lua_insert(state, 2);
            ffi::lua_concat(state, 2);
        }
        ffi::lua_error(state)
    }
}

/// `inner` as a C function (see the module comment).
pub(crate) fn wrap(lua: &Lua, inner: Function) -> mlua::Result<Function> {
    // SAFETY: the closure pops the one argument exec_raw pushed (`inner`)
    // and leaves the new C closure, which exec_raw returns.
    unsafe {
        lua.exec_raw::<Function>(inner, |state| {
            ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

/// A Rust library function with luaL_error's behaviour: `Err(message)`
/// raises the message as a string placed at the caller.
pub(crate) fn lib_function<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> Result<MultiValue, String> + Send + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| {
        Ok(match f(lua, args) {
            Ok(mut values) => {
                values.push_front(Value::Boolean(true));
                values
            }
            Err(message) => {
                let (text, position) = match message.strip_prefix(NO_POSITION) {
                    Some(rest) => (rest, false),
                    None => (message.as_str(), true),
                };
                MultiValue::from_iter([
                    Value::Boolean(false),
                    Value::String(lua.create_string(text)?),
                    Value::Boolean(position),
                ])
            }
        })
    })?;
    wrap(lua, inner)
}
