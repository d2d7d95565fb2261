//! A small SMTP relay for tests: real sockets and real TLS (STARTTLS or implicit), with a
//! certificate from its own throw-away CA. It accepts every message and hands it over;
//! in [`RelayTls::None`] mode it offers no TLS, so a client that insists on TLS must refuse it.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// How the relay offers TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTls {
    /// Clear text first, then STARTTLS.
    Starttls,
    /// TLS from the first byte.
    Implicit,
    /// No TLS at all (a relay Confab must refuse to use).
    None,
}

/// A running relay.
pub struct Relay {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// PEM of the CA that signed its certificate (for `localhost`).
    pub ca_pem: String,
    /// Each accepted message: (RCPT TO addresses, raw DATA).
    pub messages: mpsc::UnboundedReceiver<(Vec<String>, String)>,
}

/// Starts a relay on a free port.
pub async fn start(mode: RelayTls) -> Relay {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA cert");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("cert");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = serve(stream, acceptor, mode, tx).await;
            });
        }
    });
    Relay {
        port,
        ca_pem: ca.pem(),
        messages: rx,
    }
}

type Sent = mpsc::UnboundedSender<(Vec<String>, String)>;

async fn serve(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    mode: RelayTls,
    tx: Sent,
) -> std::io::Result<()> {
    match mode {
        RelayTls::Implicit => {
            let tls = acceptor.accept(stream).await?;
            session(tls, tx).await.map(|_| ())
        }
        RelayTls::None => session(stream, tx).await.map(|_| ()),
        RelayTls::Starttls => {
            let mut plain = BufReader::new(stream);
            plain
                .get_mut()
                .write_all(b"220 localhost test relay\r\n")
                .await?;
            let mut line = String::new();
            loop {
                line.clear();
                if plain.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                let upper = line.trim().to_ascii_uppercase();
                if upper.starts_with("EHLO") {
                    plain
                        .get_mut()
                        .write_all(b"250-localhost\r\n250 STARTTLS\r\n")
                        .await?;
                } else if upper == "STARTTLS" {
                    plain.get_mut().write_all(b"220 ready\r\n").await?;
                    break;
                } else if upper == "QUIT" {
                    plain.get_mut().write_all(b"221 bye\r\n").await?;
                    return Ok(());
                } else {
                    plain.get_mut().write_all(b"530 STARTTLS first\r\n").await?;
                }
            }
            let tls = acceptor.accept(plain.into_inner()).await?;
            let mut tls = BufReader::new(tls);
            after_greeting(&mut tls, &tx).await
        }
    }
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(stream: S, tx: Sent) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    stream
        .get_mut()
        .write_all(b"220 localhost test relay\r\n")
        .await?;
    after_greeting(&mut stream, &tx).await
}

async fn after_greeting<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    tx: &Sent,
) -> std::io::Result<()> {
    let mut rcpt = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.trim().to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250 localhost\r\n"
        } else if upper.starts_with("MAIL FROM") {
            b"250 ok\r\n"
        } else if upper.starts_with("RCPT TO") {
            rcpt.push(
                line.trim()["RCPT TO:".len()..]
                    .trim_matches(['<', '>', ' '])
                    .to_owned(),
            );
            b"250 ok\r\n"
        } else if upper == "DATA" {
            stream.get_mut().write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if stream.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(&line);
            }
            let _ = tx.send((std::mem::take(&mut rcpt), data));
            b"250 queued\r\n"
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 ok\r\n"
        } else if upper == "QUIT" {
            stream.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        stream.get_mut().write_all(reply).await?;
    }
}
