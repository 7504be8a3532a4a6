//! Is a tenant's Node-RED answering? `GET /` on its editor port must give 200.

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// One probe of `http://127.0.0.1:<port>/`.
pub async fn answers(port: u16) -> bool {
    tokio::time::timeout(PROBE_TIMEOUT, probe(port))
        .await
        .unwrap_or(false)
}

async fn probe(port: u16) -> bool {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return false;
    };
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::get("/")
        .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
        .body(Empty::<Bytes>::new());
    match request {
        Ok(request) => sender
            .send_request(request)
            .await
            .map(|response| response.status() == hyper::StatusCode::OK)
            .unwrap_or(false),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_does_not_answer() {
        let port = crate::runtime::free_port().unwrap();
        assert!(!answers(port).await);
    }

    #[tokio::test]
    async fn an_http_200_answers_and_a_404_does_not() {
        for (status, expected) in [("200 OK", true), ("404 Not Found", false)] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buffer = [0u8; 1024];
                let _ = socket.read(&mut buffer).await;
                socket.write_all(reply.as_bytes()).await.unwrap();
            });
            assert_eq!(answers(port).await, expected, "{status}");
        }
    }
}
