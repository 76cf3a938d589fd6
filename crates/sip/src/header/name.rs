//! Header names with their compact forms (RFC 3261 §7.3.3, §20; IANA SIP header registry).

use std::fmt;

macro_rules! header_names {
    ($( $(#[$doc:meta])* $variant:ident = $canon:literal $(, $compact:literal)? ;)*) => {
        /// A header field name. Names compare case-insensitively; compact forms map to their long name.
        #[non_exhaustive]
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum HeaderName {
            $( $(#[$doc])* $variant, )*
            /// Any other header, name as written.
            Other(Box<str>),
        }

        impl HeaderName {
            /// Maps a name as written (long or compact, any case) to a `HeaderName`.
            pub fn from_wire(s: &str) -> Self {
                // cheap pre-filter: compare only names that can match by length
                let len = s.len();
                $(
                    if (len == $canon.len() && s.eq_ignore_ascii_case($canon)) $(|| (len == 1 && s.eq_ignore_ascii_case($compact)))? {
                        return Self::$variant;
                    }
                )*
                Self::Other(s.into())
            }

            /// The canonical long name (for `Other`, the name as written).
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $canon, )*
                    Self::Other(s) => s,
                }
            }

            /// The canonical long name of a known header (`"extension"` for `Other`).
            pub fn static_name(&self) -> &'static str {
                match self {
                    $( Self::$variant => $canon, )*
                    Self::Other(_) => "extension",
                }
            }
        }
    };
}

header_names! {
    /// Via (v)
    Via = "Via", "v";
    /// From (f)
    From = "From", "f";
    /// To (t)
    To = "To", "t";
    /// Call-ID (i)
    CallId = "Call-ID", "i";
    /// CSeq
    CSeq = "CSeq";
    /// Contact (m)
    Contact = "Contact", "m";
    /// Route
    Route = "Route";
    /// Record-Route
    RecordRoute = "Record-Route";
    /// Max-Forwards
    MaxForwards = "Max-Forwards";
    /// Supported (k)
    Supported = "Supported", "k";
    /// Require
    Require = "Require";
    /// Proxy-Require
    ProxyRequire = "Proxy-Require";
    /// Unsupported
    Unsupported = "Unsupported";
    /// RSeq (RFC 3262)
    RSeq = "RSeq";
    /// RAck (RFC 3262)
    RAck = "RAck";
    /// Allow
    Allow = "Allow";
    /// Content-Type (c)
    ContentType = "Content-Type", "c";
    /// Content-Length (l)
    ContentLength = "Content-Length", "l";
    /// Content-Encoding (e)
    ContentEncoding = "Content-Encoding", "e";
    /// Expires
    Expires = "Expires";
    /// WWW-Authenticate
    WwwAuthenticate = "WWW-Authenticate";
    /// Authorization
    Authorization = "Authorization";
    /// Proxy-Authenticate
    ProxyAuthenticate = "Proxy-Authenticate";
    /// Proxy-Authorization
    ProxyAuthorization = "Proxy-Authorization";
    /// Subject (s)
    Subject = "Subject", "s";
    /// Event (o, RFC 6665)
    Event = "Event", "o";
    /// Allow-Events (u, RFC 6665)
    AllowEvents = "Allow-Events", "u";
    /// Refer-To (r, RFC 3515)
    ReferTo = "Refer-To", "r";
    /// Referred-By (b, RFC 3892)
    ReferredBy = "Referred-By", "b";
    /// Session-Expires (x, RFC 4028)
    SessionExpires = "Session-Expires", "x";
    /// Identity (y, RFC 8224), always kept verbatim
    Identity = "Identity", "y";
    /// Date
    Date = "Date";
    /// Timestamp
    Timestamp = "Timestamp";
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
