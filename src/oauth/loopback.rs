//! The installed-app flow's redirect listener (RFC 8252 §7.3): the browser
//! comes back to `http://127.0.0.1:PORT/?code=…&state=…`. It listens on
//! loopback only; on a server without a browser, forward the port over SSH
//! (`ssh -L PORT:127.0.0.1:PORT server`) and open the URL on your own
//! machine.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Binds the listener first, so the URL is only shown once it can be answered.
pub async fn bind(port: u16) -> Result<TcpListener, String> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("listening on 127.0.0.1:{port} for the browser's redirect: {e} (choose another redirect-port)"))
}

/// Waits for the redirect that carries `state`, up to `wait`; returns the code.
pub async fn code(listener: &TcpListener, state: &str, wait: Duration) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (mut sock, _) = tokio::time::timeout_at(deadline, listener.accept())
            .await
            .map_err(|_| format!("no sign-in came back within {} s", wait.as_secs()))?
            .map_err(|e| format!("accepting the browser's connection: {e}"))?;
        let mut buf = vec![0u8; 8192];
        let mut len = 0;
        // The request line and headers; the browser sends no body.
        while len < buf.len() && !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            match tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf[len..])).await {
                Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                Ok(Ok(n)) => len += n,
            }
        }
        let head = String::from_utf8_lossy(&buf[..len]);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("/");
        let url = oauth2::url::Url::parse(&format!("http://127.0.0.1{target}"))
            .map_err(|e| format!("the redirect's URL: {e}"))?;
        let get = |k: &str| {
            url.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        let (page, outcome) = match (get("code"), get("state"), get("error")) {
            (_, _, Some(err)) => (
                "Sign-in was refused. You can close this tab.",
                Some(Err(format!("the provider refused the sign-in ({err})"))),
            ),
            (Some(code), Some(s), None) if s == state => (
                "postdesk is signed in. You can close this tab.",
                Some(Ok(code)),
            ),
            (Some(_), _, None) => (
                "This answer does not belong to the sign-in postdesk started.",
                None,
            ),
            // A favicon or a stray request.
            _ => ("postdesk is waiting for the sign-in.", None),
        };
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = sock.write_all(reply.as_bytes()).await;
        let _ = sock.shutdown().await;
        if let Some(o) = outcome {
            return o;
        }
    }
}
