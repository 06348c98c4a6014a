//! A worker: datafusion-distributed's Flight endpoint over one tsq store
//! (`tsq worker --data DIR --listen ADDR`, `docs/distributed.md`). Every
//! query it receives is decoded with a [`TsqCodec`] holding its store.

use std::net::SocketAddr;

use datafusion_distributed::{DistributedExt, Worker, WorkerQueryContext};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use super::codec::TsqCodec;
use super::shard_exec::ShardStore;
use crate::error::{Error, Result};

/// A running worker; dropping it (or [`WorkerHandle::stop`]) stops it.
#[derive(Debug)]
pub struct WorkerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::result::Result<(), tonic::transport::Error>>>,
}

impl WorkerHandle {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server to end.
    pub async fn stop(mut self) -> Result<()> {
        self.shutdown();
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(r) => r.map_err(|e| Error::Worker {
                    worker: self.addr.to_string(),
                    message: e.to_string(),
                })?,
                Err(e) => {
                    return Err(Error::Worker {
                        worker: self.addr.to_string(),
                        message: e.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Kills the server at once (open streams break): the failure test.
    pub fn abort(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The datafusion-distributed worker over `store`.
pub fn worker(store: ShardStore) -> Worker {
    Worker::from_session_builder(move |ctx: WorkerQueryContext| {
        let codec = TsqCodec::worker(store.clone());
        async move { Ok(ctx.builder.with_distributed_user_codec(codec).build()) }
    })
}

/// Serves `store` on `listener` until stopped (on the current runtime).
pub fn serve(store: ShardStore, listener: TcpListener) -> Result<WorkerHandle> {
    serve_with(store, listener, None)
}

/// [`serve`], with the HTTP routes `http` served on the same port
/// (HTTP/1.1 beside the workers' gRPC over HTTP/2): `tsq worker` passes
/// `tsq serve`'s routes, so that `POST /write` takes the shard's points
/// (`docs/distributed.md`, "Writing to a cluster").
pub fn serve_with(
    store: ShardStore,
    listener: TcpListener,
    http: Option<axum::Router>,
) -> Result<WorkerHandle> {
    let addr = listener.local_addr().map_err(|e| Error::Worker {
        worker: "listener".into(),
        message: e.to_string(),
    })?;
    let (stop, stopped) = oneshot::channel::<()>();
    // The gRPC service goes onto the HTTP router as a route of its own
    // (`/<service>/*`), which keeps the router's fallback.
    let service = worker(store).into_worker_server();
    let routes = match http {
        Some(http) => Routes::from(http).add_service(service),
        None => Routes::new(service),
    };
    let incoming = TcpIncoming::from(listener);
    let task = tokio::spawn(async move {
        Server::builder()
            .accept_http1(true)
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(WorkerHandle {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}
