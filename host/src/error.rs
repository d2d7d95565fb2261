//! The one error type of the host and the one table of wire codes.
//!
//! Every failure a client can see is a variant of [`Error`]; [`Error::code`] and
//! [`Error::http_status`] are the only places that decide what goes on the wire, so REST
//! envelopes and WebSocket error frames always agree. Nothing here knows axum: the
//! envelope itself is written by `api::envelope`.

use std::fmt;

/// A wire code: the `status` of a REST envelope or the `code` of a WebSocket frame.
///
/// Codes up to 30010 and the 500xx block are the seed's and keep their number and text;
/// the codes from 30011 up are Confab's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// 200: success.
    Ok,
    /// 201: the seed's "password changed" (kept for its table; not sent today).
    PasswordChanged,
    /// 202: the seed's "third-party account not bound" (kept for its table; not sent).
    NotBound,
    /// 500: a generic failure (the seed uses it for duplicate names and bad credentials).
    Fail,
    /// 400: the request's parameters are missing or malformed.
    InvalidParams,
    /// 40001: a database write failed.
    Database,
    /// 30001: no `Authorization` header or token.
    MissingAuth,
    /// 30002: the token is forged, expired, revoked or of the wrong kind.
    InvalidToken,
    /// 30003: the uploaded file could not be read from the request.
    GetFile,
    /// 30004: the upload folder could not be created.
    CreateFile,
    /// 30005: the uploaded file could not be stored.
    PlaceFile,
    /// 30006: deleting data failed.
    DeleteFailed,
    /// 30007: creating data failed.
    CreateFailed,
    /// 30008: the group is full.
    GroupFull,
    /// 30009: no such group, or the caller is not a member.
    NoGroup,
    /// 30010: the user is already a member of the group.
    AlreadyMember,
    /// 50001: a chat message for the receiver.
    WsMessage,
    /// 50002: connected / request done.
    WsOk,
    /// 50003: no more history.
    WsEnd,
    /// 50004: sent; the peer is online.
    WsOnline,
    /// 50005: sent; the peer is offline and will read it later.
    WsOffline,
    /// 50006: refused by a limit (the stranger rule).
    WsLimit,
    /// 30011: no such user.
    UserNotFound,
    /// 30012: the caller's role or ownership does not allow this.
    NotAllowed,
    /// 30013: a plugin rejected the request.
    PluginRejected,
    /// 30014: the invite key is missing, unknown or already used.
    InviteInvalid,
    /// 30015: the verification code is wrong, expired or was never sent.
    CodeInvalid,
    /// 30016: too many wrong verification attempts; a new code must be requested.
    TooManyAttempts,
    /// 30017: the upload was rejected for its type or size.
    UploadRejected,
    /// 30018: the email address belongs to another account.
    EmailTaken,
    /// 30019: too many requests; retry later.
    RateLimited,
    /// 30020: the request body is larger than the server accepts.
    TooLarge,
    /// 30021: no such route or resource.
    NotFound,
    /// 30022: the route exists but not for this HTTP method.
    MethodNotAllowed,
    /// 30023: the user is already on the caller's friend list.
    FriendExists,
    /// 30024: the user is not on the caller's friend list.
    NotFriend,
    /// 30025: the request body stopped arriving, or arrived too slowly.
    Timeout,
    /// 30026: the user was removed from the group and may not rejoin until the ban is lifted.
    Banned,
    /// 30027: the upload would take the user past their upload quota.
    QuotaExceeded,
    /// 30028: the image's header declares more pixels than the server accepts.
    ImageTooLarge,
    /// 30029: the user name looks like an existing one.
    NameLookAlike,
    /// 50010: a message was edited.
    WsEdited,
    /// 50011: a message was recalled.
    WsRecalled,
    /// 50012: a message was deleted for you.
    WsHidden,
    /// 50013: a reaction was added or taken back.
    WsReaction,
    /// 50014: a read receipt.
    WsRead,
    /// 50015: a group message mentions you.
    WsMention,
    /// 50016: a delivery receipt.
    WsDelivered,
    /// 50017: someone is typing.
    WsTyping,
    /// 30030: only a message's sender (or, to recall, a group owner or admin) may do this.
    NotYourMessage,
    /// 30031: the message is older than the recall window.
    RecallExpired,
    /// 30042: the user's list is as long as it may be.
    ListFull,
    /// 30040: a block between the two users refuses this.
    Blocked,
    /// 30041: the sender is muted in the group.
    Muted,
    /// 30050: the operator banned the account.
    AccountBanned,
}

impl Code {
    /// Every code, in table order (docs/api.md's table is checked against it by tests/e2e/docs.rs).
    pub const ALL: [Code; 55] = [
        Code::Ok,
        Code::PasswordChanged,
        Code::NotBound,
        Code::Fail,
        Code::InvalidParams,
        Code::Database,
        Code::MissingAuth,
        Code::InvalidToken,
        Code::GetFile,
        Code::CreateFile,
        Code::PlaceFile,
        Code::DeleteFailed,
        Code::CreateFailed,
        Code::GroupFull,
        Code::NoGroup,
        Code::AlreadyMember,
        Code::WsMessage,
        Code::WsOk,
        Code::WsEnd,
        Code::WsOnline,
        Code::WsOffline,
        Code::WsLimit,
        Code::UserNotFound,
        Code::NotAllowed,
        Code::PluginRejected,
        Code::InviteInvalid,
        Code::CodeInvalid,
        Code::TooManyAttempts,
        Code::UploadRejected,
        Code::EmailTaken,
        Code::RateLimited,
        Code::TooLarge,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::FriendExists,
        Code::NotFriend,
        Code::Timeout,
        Code::Banned,
        Code::QuotaExceeded,
        Code::ImageTooLarge,
        Code::NameLookAlike,
        Code::WsEdited,
        Code::WsRecalled,
        Code::WsHidden,
        Code::WsReaction,
        Code::WsRead,
        Code::WsMention,
        Code::WsDelivered,
        Code::WsTyping,
        Code::NotYourMessage,
        Code::RecallExpired,
        Code::ListFull,
        Code::Blocked,
        Code::Muted,
        Code::AccountBanned,
    ];

    /// The number sent on the wire.
    pub fn number(self) -> u32 {
        match self {
            Code::Ok => 200,
            Code::PasswordChanged => 201,
            Code::NotBound => 202,
            Code::Fail => 500,
            Code::InvalidParams => 400,
            Code::Database => 40001,
            Code::MissingAuth => 30001,
            Code::InvalidToken => 30002,
            Code::GetFile => 30003,
            Code::CreateFile => 30004,
            Code::PlaceFile => 30005,
            Code::DeleteFailed => 30006,
            Code::CreateFailed => 30007,
            Code::GroupFull => 30008,
            Code::NoGroup => 30009,
            Code::AlreadyMember => 30010,
            Code::WsMessage => 50001,
            Code::WsOk => 50002,
            Code::WsEnd => 50003,
            Code::WsOnline => 50004,
            Code::WsOffline => 50005,
            Code::WsLimit => 50006,
            Code::UserNotFound => 30011,
            Code::NotAllowed => 30012,
            Code::PluginRejected => 30013,
            Code::InviteInvalid => 30014,
            Code::CodeInvalid => 30015,
            Code::TooManyAttempts => 30016,
            Code::UploadRejected => 30017,
            Code::EmailTaken => 30018,
            Code::RateLimited => 30019,
            Code::TooLarge => 30020,
            Code::NotFound => 30021,
            Code::MethodNotAllowed => 30022,
            Code::FriendExists => 30023,
            Code::NotFriend => 30024,
            Code::Timeout => 30025,
            Code::Banned => 30026,
            Code::QuotaExceeded => 30027,
            Code::ImageTooLarge => 30028,
            Code::NameLookAlike => 30029,
            Code::WsEdited => 50010,
            Code::WsRecalled => 50011,
            Code::WsHidden => 50012,
            Code::WsReaction => 50013,
            Code::WsRead => 50014,
            Code::WsMention => 50015,
            Code::WsDelivered => 50016,
            Code::WsTyping => 50017,
            Code::NotYourMessage => 30030,
            Code::RecallExpired => 30031,
            Code::ListFull => 30042,
            Code::Blocked => 30040,
            Code::Muted => 30041,
            Code::AccountBanned => 30050,
        }
    }

    /// The seed's `msg` text for the code (Confab's own codes follow the same style).
    pub fn msg(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::PasswordChanged => "修改密码成功",
            Code::NotBound => "该第三方账号未绑定",
            Code::Fail => "fail",
            Code::InvalidParams => "请求参数错误",
            Code::Database => "数据库操作出错,请重试",
            Code::MissingAuth => "缺少Authorization数据",
            Code::InvalidToken => "无效的Token",
            Code::GetFile => "从网络获取文件失败",
            Code::CreateFile => "创建文件目录失败",
            Code::PlaceFile => "文件放置失败",
            Code::DeleteFailed => "删除数据失败",
            Code::CreateFailed => "创建数据失败",
            Code::GroupFull => "群人数已满",
            Code::NoGroup => "无法获取群数据",
            Code::AlreadyMember => "用户已在群中",
            Code::WsMessage => "解析content内容信息",
            Code::WsOk => "发送信息，请求历史纪录操作成功",
            Code::WsEnd => "请求历史纪录，但没有更多记录了",
            Code::WsOnline => "针对回复信息在线应答成功",
            Code::WsOffline => "针对回复信息离线回答成功",
            Code::WsLimit => "请求收到限制",
            Code::UserNotFound => "用户不存在",
            Code::NotAllowed => "没有权限",
            Code::PluginRejected => "被插件拒绝",
            Code::InviteInvalid => "邀请码无效或已使用",
            Code::CodeInvalid => "验证码错误或已过期",
            Code::TooManyAttempts => "尝试次数过多",
            Code::UploadRejected => "文件被拒绝",
            Code::EmailTaken => "邮箱已被使用",
            Code::RateLimited => "请求过于频繁",
            Code::TooLarge => "请求体过大",
            Code::NotFound => "资源不存在",
            Code::MethodNotAllowed => "请求方法不允许",
            Code::FriendExists => "已添加该好友",
            Code::NotFriend => "对方不是好友",
            Code::Timeout => "请求超时",
            Code::Banned => "已被移出该群，不能再加入",
            Code::QuotaExceeded => "上传额度已用完",
            Code::ImageTooLarge => "图片尺寸过大",
            Code::NameLookAlike => "用户名与已有用户过于相似",
            Code::WsEdited => "消息已编辑",
            Code::WsRecalled => "消息已撤回",
            Code::WsHidden => "消息已删除（仅自己）",
            Code::WsReaction => "消息表情回应",
            Code::WsRead => "已读回执",
            Code::WsMention => "有人在群里@了你",
            Code::WsDelivered => "送达回执",
            Code::WsTyping => "对方正在输入",
            Code::NotYourMessage => "只能修改自己的消息",
            Code::RecallExpired => "消息已超过可撤回时间",
            Code::ListFull => "数量已达上限",
            Code::Blocked => "对方已将你拉黑或你已拉黑对方",
            Code::Muted => "你已被禁言",
            Code::AccountBanned => "账号已被封禁",
        }
    }
}

/// Which stored value a conflict was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The user name is taken.
    Username,
    /// The email address belongs to another account.
    Email,
    /// The user name looks like an existing one (the same letters from another script, or
    /// full-width forms), though it is not the same name.
    LookAlike,
}

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is missing or malformed; `reason` is shown to the client.
    #[error("{0}")]
    Invalid(String),
    /// The request carried no token.
    #[error("missing Authorization header or token")]
    MissingToken,
    /// The token is forged, expired, revoked or of the wrong kind.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// Wrong user name or password.
    #[error("wrong username or password")]
    BadCredentials,
    /// A unique value is taken.
    #[error("{}", match .0 {
        Conflict::Username => "username already taken",
        Conflict::Email => "email already in use by another account",
        Conflict::LookAlike => "username looks like an existing user's name: choose another",
    })]
    Conflict(Conflict),
    /// No such user.
    #[error("user not found")]
    UserNotFound,
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A list of the caller's is at its cap.
    #[error("{0}")]
    ListFull(String),
    /// The message is someone else's.
    #[error("{0}")]
    NotYourMessage(&'static str),
    /// The message is too old to recall.
    #[error("messages can be recalled for {window_secs} seconds after they are sent")]
    RecallExpired {
        /// The recall window.
        window_secs: u64,
    },
    /// The invite key is missing, unknown or used.
    #[error("{0}")]
    InvalidInvite(&'static str),
    /// The verification code is wrong, expired or was never sent.
    #[error("{0}")]
    VerificationFailed(&'static str),
    /// Too many wrong verification codes.
    #[error("too many wrong codes: request a new one")]
    TooManyAttempts,
    /// An upload was refused for its type.
    #[error("{0}")]
    UploadRejected(String),
    /// A request body exceeded its cap.
    #[error("the request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// An image's header declares more pixels than `uploads.max_image_pixels`.
    #[error("the image is {width}x{height} pixels; the limit is {limit} pixels")]
    ImageTooLarge {
        /// Its width, as declared.
        width: u64,
        /// Its height, as declared.
        height: u64,
        /// The cap in pixels.
        limit: u64,
    },
    /// An uploaded file exceeded its cap.
    #[error("the file is larger than the limit of {limit} bytes")]
    UploadTooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// The request body stopped arriving, or arrived too slowly (`server.body_timeout_secs`).
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// Too many requests; the client may retry after this many seconds.
    #[error("too many requests: retry in {retry_after} s")]
    RateLimited {
        /// Seconds until a retry can succeed.
        retry_after: u64,
    },
    /// No such route or resource.
    #[error("{0}")]
    NotFound(&'static str),
    /// The group is full.
    #[error("the group is full")]
    GroupFull,
    /// No such group, or the caller (or the named user) is not a member.
    #[error("{0}")]
    NoGroup(&'static str),
    /// The user is already a member of the group.
    #[error("already a member of this group")]
    AlreadyMember,
    /// The user is already a friend.
    #[error("already on your friend list")]
    FriendExists,
    /// The user is not a friend.
    #[error("not on your friend list")]
    NotFriend,
    /// The user was removed from the group and is banned from it.
    #[error(
        "you were removed from this group and cannot rejoin unless the owner or an admin lifts the ban"
    )]
    Banned,
    /// An upload would pass the user's quota; the reason names it.
    #[error("{0}")]
    QuotaExceeded(String),
    /// A plugin refused the action.
    #[error("{0}")]
    PolicyDenied(String),
    /// A block between the two users refuses this; the reason says which way it runs.
    #[error("{0}")]
    Blocked(&'static str),
    /// The sender is muted in the group until this time (unix milliseconds).
    #[error("you are muted in this group until {}", crate::users::rfc3339(*until))]
    Muted {
        /// When the mute ends, unix milliseconds.
        until: i64,
    },
    /// The operator banned the account: no login, no token of it holds.
    #[error("this account is banned by the operator")]
    AccountBanned,
    /// The whole group is muted; only its owner and admins may send.
    #[error("this group is muted: only the owner and admins can send")]
    GroupMuted,
    /// The route does not accept this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The message was not stored (its batch failed, or the server is stopping): nothing
    /// of it was kept, and the client may send it again with the same `client_id`.
    #[error("{0}")]
    NotStored(&'static str),
    /// The store did not answer a read in time (a stalled database link).
    #[error("{0}")]
    TimedOut(&'static str),
    /// A failure that is not the client's: logged once, shown as "internal error".
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The host's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A parameter error with a formatted reason.
    pub fn invalid(reason: impl fmt::Display) -> Self {
        Error::Invalid(reason.to_string())
    }

    /// The wire code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::Invalid(_) => Code::InvalidParams,
            Error::MissingToken => Code::MissingAuth,
            Error::InvalidToken(_) => Code::InvalidToken,
            Error::BadCredentials | Error::Conflict(Conflict::Username) => Code::Fail,
            Error::Conflict(Conflict::Email) => Code::EmailTaken,
            Error::Conflict(Conflict::LookAlike) => Code::NameLookAlike,
            Error::ImageTooLarge { .. } => Code::ImageTooLarge,
            Error::UserNotFound => Code::UserNotFound,
            Error::Forbidden(_) => Code::NotAllowed,
            Error::ListFull(_) => Code::ListFull,
            Error::NotYourMessage(_) => Code::NotYourMessage,
            Error::RecallExpired { .. } => Code::RecallExpired,
            Error::InvalidInvite(_) => Code::InviteInvalid,
            Error::VerificationFailed(_) => Code::CodeInvalid,
            Error::TooManyAttempts => Code::TooManyAttempts,
            Error::UploadRejected(_) => Code::UploadRejected,
            Error::UploadTooLarge { .. } => Code::UploadRejected,
            Error::BodyTooLarge { .. } => Code::TooLarge,
            Error::BodyTimeout => Code::Timeout,
            Error::RateLimited { .. } => Code::RateLimited,
            Error::NotFound(_) => Code::NotFound,
            Error::MethodNotAllowed => Code::MethodNotAllowed,
            Error::GroupFull => Code::GroupFull,
            Error::NoGroup(_) => Code::NoGroup,
            Error::AlreadyMember => Code::AlreadyMember,
            Error::FriendExists => Code::FriendExists,
            Error::NotFriend => Code::NotFriend,
            Error::Banned => Code::Banned,
            Error::QuotaExceeded(_) => Code::QuotaExceeded,
            Error::PolicyDenied(_) => Code::PluginRejected,
            Error::Blocked(_) => Code::Blocked,
            Error::Muted { .. } | Error::GroupMuted => Code::Muted,
            Error::AccountBanned => Code::AccountBanned,
            Error::NotStored(_) | Error::TimedOut(_) => Code::Database,
            Error::Internal(_) => Code::Fail,
        }
    }

    /// The HTTP status of a REST response carrying this error. Business outcomes are 200, as
    /// in the seed; parameter, auth, size and rate errors use their HTTP meaning.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Invalid(_) => 400,
            Error::MissingToken | Error::InvalidToken(_) => 401,
            Error::AccountBanned => 403,
            Error::BodyTimeout => 408,
            Error::BodyTooLarge { .. }
            | Error::UploadTooLarge { .. }
            | Error::QuotaExceeded(_)
            | Error::ImageTooLarge { .. } => 413,
            Error::RateLimited { .. } => 429,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed => 405,
            Error::Internal(_) => 500,
            Error::NotStored(_) | Error::TimedOut(_) => 503,
            Error::BadCredentials
            | Error::Conflict(_)
            | Error::UserNotFound
            | Error::Forbidden(_)
            | Error::ListFull(_)
            | Error::NotYourMessage(_)
            | Error::RecallExpired { .. }
            | Error::InvalidInvite(_)
            | Error::VerificationFailed(_)
            | Error::TooManyAttempts
            | Error::UploadRejected(_)
            | Error::GroupFull
            | Error::NoGroup(_)
            | Error::AlreadyMember
            | Error::FriendExists
            | Error::NotFriend
            | Error::Banned
            | Error::PolicyDenied(_)
            | Error::Blocked(_)
            | Error::Muted { .. }
            | Error::GroupMuted => 200,
        }
    }

    /// The English reason shown in the envelope's `error` (never internals).
    pub fn public_reason(&self) -> String {
        match self {
            Error::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    /// The seed put a Chinese reason in `data` for its two `500 fail` outcomes; seed clients
    /// show it, so it is kept.
    pub fn seed_data(&self) -> Option<&'static str> {
        match self {
            Error::BadCredentials => Some("用户名或密码错误"),
            Error::Conflict(Conflict::Username) => Some("用户名已存在"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_new_ones_start_at_30011() {
        let numbers: HashSet<u32> = Code::ALL.iter().map(|c| c.number()).collect();
        assert_eq!(numbers.len(), Code::ALL.len());
        // The seed's codes keep their numbers; Confab's own follow them from 30011 up.
        let seed = Code::ALL
            .iter()
            .position(|c| *c == Code::WsLimit)
            .expect("50006 is in the table");
        assert_eq!(Code::AlreadyMember.number(), 30010);
        assert_eq!(Code::MissingAuth.number(), 30001);
        assert_eq!(Code::WsLimit.number(), 50006);
        assert_eq!(Code::WsOk.msg(), "发送信息，请求历史纪录操作成功");
        // Confab's own codes start at 30011 (50007 for frames); a feature may open a range
        // of its own above.
        assert_eq!(Code::ALL[seed + 1].number(), 30011);
        for code in &Code::ALL[seed + 1..] {
            let n = code.number();
            assert!(
                (30011..40000).contains(&n) || (50007..60000).contains(&n),
                "{code:?}"
            );
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = Error::Internal(anyhow::anyhow!("password=hunter2"));
        assert_eq!(err.public_reason(), "internal error");
        assert_eq!(err.http_status(), 500);
    }
}
