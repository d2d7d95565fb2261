//! Outgoing mail: verification codes and address notices, written as `.eml` files or sent
//! over SMTP with TLS.
//!
//! Only this module sends mail (`users::rules` borrows lettre's address parser). The file transport is the embedded default: mail lands
//! in `<data_dir>/mail`, where a developer (or a test) reads it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{EmailConfig, MailTransport, SmtpConfig, SmtpSecurity};

enum Transport {
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Sends verification mail.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer chosen by configuration; `mail_dir` is used by the file transport.
    pub fn new(config: &EmailConfig, mail_dir: &Path) -> anyhow::Result<Self> {
        let from: Mailbox = config
            .from
            .parse()
            .with_context(|| format!("email.from {:?} is not a valid mailbox", config.from))?;
        let transport = match config.transport {
            MailTransport::File => {
                std::fs::create_dir_all(mail_dir)
                    .with_context(|| format!("creating {}", mail_dir.display()))?;
                Transport::File(AsyncFileTransport::new(mail_dir))
            }
            MailTransport::Smtp => Transport::Smtp(smtp_transport(&config.smtp)?),
        };
        Ok(Self { from, transport })
    }

    /// Sends a verification code to `to`.
    pub async fn send_code(&self, to: &str, code: &str, ttl_secs: u64) -> anyhow::Result<()> {
        let to: Mailbox = to.parse().context("recipient address")?;
        let minutes = ttl_secs.div_ceil(60);
        let text = format!(
            "Your Confab verification code is {code}. It expires in {minutes} minute(s).\n\n\
             您的验证码为：{code}\n"
        );
        let html = format!(
            "<p>Your Confab verification code is <b>{code}</b>. It expires in {minutes} minute(s).</p>\
             <p>您的验证码为：{code}</p>"
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("验证码 / Confab verification code")
            .multipart(MultiPart::alternative_plain_html(text, html))
            .context("building the verification mail")?;
        self.deliver(message).await
    }

    /// Tells the owner of `to` that another account asked for a code to it. The asker is
    /// answered as if the address were free, so only the owner learns of the attempt.
    pub async fn send_address_notice(&self, to: &str) -> anyhow::Result<()> {
        const EN: &str = "Someone asked to add this address to another Confab account. It stays \
                          with your account: no code was sent, and the address cannot be added \
                          without one. If it was you, sign in with the account that already has \
                          this address; otherwise there is nothing to do.";
        const ZH: &str = "有人尝试将此邮箱绑定到另一个 Confab 账号。邮箱仍属于您的账号：未发送验证码，\
                          没有验证码无法绑定。若是您本人操作，请登录已绑定此邮箱的账号；否则无需处理。";
        let to: Mailbox = to.parse().context("recipient address")?;
        let text = format!("{EN}\n\n{ZH}\n");
        let html = format!("<p>{EN}</p><p>{ZH}</p>");
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("邮箱使用提醒 / Someone tried to use your address on Confab")
            .multipart(MultiPart::alternative_plain_html(text, html))
            .context("building the address notice")?;
        self.deliver(message).await
    }

    async fn deliver(&self, message: Message) -> anyhow::Result<()> {
        match &self.transport {
            Transport::File(t) => {
                let id = t.send(message).await.context("writing the mail file")?;
                tracing::info!(mail = %id, "mail written to the mail folder");
            }
            Transport::Smtp(t) => {
                t.send(message).await.context("sending over SMTP")?;
            }
        }
        Ok(())
    }
}

/// An SMTP transport that always speaks TLS, trusting the web's roots and, when given,
/// the CA in `ca_file` (for relays with an internal certificate authority).
fn smtp_transport(smtp: &SmtpConfig) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let mut tls = TlsParameters::builder(smtp.host.clone());
    if !smtp.ca_file.as_os_str().is_empty() {
        let pem = std::fs::read(&smtp.ca_file)
            .with_context(|| format!("reading email.smtp.ca_file {}", smtp.ca_file.display()))?;
        let cert =
            Certificate::from_pem(&pem).context("email.smtp.ca_file is not a PEM certificate")?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build_rustls().context("setting up TLS for SMTP")?;
    // `builder_dangerous` only means "no TLS chosen yet": one is always set here, and
    // there is no clear-text fallback.
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(20)))
        .tls(match smtp.security {
            SmtpSecurity::Tls => Tls::Wrapper(tls),
            SmtpSecurity::Starttls => Tls::Required(tls),
        });
    let builder = if smtp.username.is_empty() {
        builder
    } else {
        builder.credentials(Credentials::new(
            smtp.username.clone(),
            smtp.password.clone(),
        ))
    };
    Ok(builder.build())
}

/// The folder the file transport writes to.
pub fn mail_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("mail")
}
