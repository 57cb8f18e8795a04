//! Per-connection state that commands read and change.

use std::sync::Arc;

use crate::resp::Proto;
use crate::state::ClientHandle;

/// One client's connection state, owned by its connection task.
pub struct Session {
    /// What other connections see of this one (name, last command...).
    pub handle: Arc<ClientHandle>,
    /// RESP version replies are encoded in (HELLO changes it).
    pub proto: Proto,
    /// Whether AUTH (or HELLO ... AUTH) succeeded.
    pub authenticated: bool,
    /// CLIENT REPLY OFF: no replies until CLIENT REPLY ON.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: the next command's reply is not sent.
    pub skip_next: bool,
}

impl Session {
    /// A fresh session: RESP2, authenticated only when no password is set.
    pub fn new(handle: Arc<ClientHandle>, password_required: bool) -> Self {
        Session {
            handle,
            proto: Proto::Resp2,
            authenticated: !password_required,
            reply_off: false,
            skip_next: false,
        }
    }

    /// The client id (CLIENT ID).
    pub fn id(&self) -> u64 {
        self.handle.id
    }

    /// Switches the protocol, keeping CLIENT LIST in step.
    pub fn set_proto(&mut self, proto: Proto) {
        self.proto = proto;
        self.handle.info().proto = proto;
    }
}
