//! The seed APIs served beside `/v1` (`../shared/DIALECTS.md`): which one a request
//! speaks, and what differs in how it is spoken.
//!
//! A dialect is a representation only (API.md "Beside /v1"; STYLE.md §11): the
//! operation a route reaches is the same function, rules, store and events as its
//! `/v1` twin; the matched route tells the operation which shape to read and write.
//! The white-label API (000) speaks `/v1`'s shapes under its own paths; the hosting
//! API (003) does too, with arrays for lists, the client's API key or a search term
//! in the path, and the deprecated search marked as such.

/// The API a request speaks, told by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/v1`: this contract.
    V1,
    /// 000, the white-label clients API: `/v2/clients/...`.
    WhiteLabel,
    /// 003, the hosting clients API: `/hosting/api/...`.
    Hosting,
}

impl Dialect {
    /// The dialect of a request path.
    pub fn of(path: &str) -> Self {
        if path.starts_with("/v2/") {
            Self::WhiteLabel
        } else if path.starts_with("/hosting/api/") {
            Self::Hosting
        } else {
            Self::V1
        }
    }

    /// Where a client created through this dialect is read back (`Location`).
    pub fn client_location(self, id: &str) -> String {
        match self {
            Self::V1 => format!("/v1/clients/{id}"),
            Self::WhiteLabel => format!("/v2/clients/retrieve/{id}"),
            Self::Hosting => format!("/hosting/api/client/{id}"),
        }
    }
}

/// The most clients one whole-list answer of a dialect carries (the hosting API's
/// `GET /hosting/api/client` answers every client of the caller's tree at once):
/// read page by page within the 10 s answer limit. A tree with more is told to page
/// through `GET /v1/clients` with its cursor (400), never given a cut-off list.
pub const WHOLE_LIST_CAP: u64 = 1000;

/// A request path as it may be logged: the route template where the path carries a
/// secret (the hosting API's client lookup by API key puts the key in the path,
/// because its seed does), else the path itself.
pub fn loggable_path(path: &str) -> String {
    const SECRET_IN_PATH: &str = "/hosting/api/client/by-apiKey/";
    if path.starts_with(SECRET_IN_PATH) { format!("{SECRET_IN_PATH}{{apiKey}}") } else { path.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_tells_the_dialect() {
        assert_eq!(Dialect::of("/v1/clients"), Dialect::V1);
        assert_eq!(Dialect::of("/v2/clients/list"), Dialect::WhiteLabel);
        assert_eq!(Dialect::of("/hosting/api/client"), Dialect::Hosting);
    }

    #[test]
    fn a_key_in_the_path_is_never_logged() {
        let logged = loggable_path("/hosting/api/client/by-apiKey/cli_live_secret");
        assert!(!logged.contains("secret"), "{logged}");
        assert_eq!(loggable_path("/v1/clients/x"), "/v1/clients/x");
    }
}
