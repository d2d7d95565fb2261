//! Shorthands for building the answers hooks give. The types themselves are generated from
//! the WIT and re-exported at the crate root.

use std::fmt;

use crate::{Hook, JoinDecision, Rejection, UploadAccept, UploadVerdict, Verdict};

impl Hook {
    /// Every hook, in the WIT's order.
    pub const ALL: [Hook; 4] = [
        Hook::FilterMessage,
        Hook::OnJoin,
        Hook::OnOwnerLeave,
        Hook::OnUpload,
    ];

    /// The hook's name in the WIT and in manifests (`"filter-message"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Hook::FilterMessage => "filter-message",
            Hook::OnJoin => "on-join",
            Hook::OnOwnerLeave => "on-owner-leave",
            Hook::OnUpload => "on-upload",
        }
    }

    /// The hook called `name` in the WIT and in manifests.
    ///
    /// ```
    /// use confab_plugin_sdk::Hook;
    ///
    /// assert_eq!(Hook::from_name("on-upload"), Some(Hook::OnUpload));
    /// assert_eq!(Hook::from_name("on_upload"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.name() == name)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Verdict {
    /// Refuses the message with `code` and `reason`, both shown to the sender.
    ///
    /// Use a code from the server's protocol where one fits (30013 for content the server
    /// does not accept, 50006 for a rate rule), so clients can react to it.
    ///
    /// ```
    /// use confab_plugin_sdk::{Rejection, Verdict};
    ///
    /// let verdict = Verdict::reject(30013, "no shouting");
    /// assert_eq!(verdict, Verdict::Reject(Rejection { code: 30013, reason: "no shouting".into() }));
    /// ```
    pub fn reject(code: u32, reason: impl Into<String>) -> Self {
        Verdict::Reject(Rejection {
            code,
            reason: reason.into(),
        })
    }
}

impl JoinDecision {
    /// Refuses the join for `reason`, shown to the user.
    pub fn deny(reason: impl Into<String>) -> Self {
        JoinDecision::Deny(reason.into())
    }
}

impl UploadVerdict {
    /// Keeps the upload with the extension the client gave it.
    pub fn accept() -> Self {
        UploadVerdict::Accept(UploadAccept {
            name: None,
            content_type: None,
        })
    }

    /// Keeps the upload, stored and served with the extension of `name` and as
    /// `content_type`. The server still stores it under a random name of its own.
    ///
    /// ```
    /// use confab_plugin_sdk::{UploadAccept, UploadVerdict};
    ///
    /// let verdict = UploadVerdict::accept_as("upload.png", "image/png");
    /// let UploadVerdict::Accept(UploadAccept { name, content_type }) = verdict else {
    ///     unreachable!()
    /// };
    /// assert_eq!(name.as_deref(), Some("upload.png"));
    /// assert_eq!(content_type.as_deref(), Some("image/png"));
    /// ```
    pub fn accept_as(name: impl Into<String>, content_type: impl Into<String>) -> Self {
        UploadVerdict::Accept(UploadAccept {
            name: Some(name.into()),
            content_type: Some(content_type.into()),
        })
    }

    /// Refuses the upload for `reason`, shown to the uploader.
    pub fn reject(reason: impl Into<String>) -> Self {
        UploadVerdict::Reject(reason.into())
    }
}
