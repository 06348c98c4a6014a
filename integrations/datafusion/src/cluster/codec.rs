//! The `PhysicalExtensionCodec` of [`TsqShardExec`]: the statement text,
//! the shard id and, for the partial step, the cluster's catalog cross the
//! network, never a handle (`docs/distributed.md`). A worker's codec holds
//! its store and builds the node over it; the coordinator's holds none.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;

use super::catalog::ShardCatalog;
use super::shard::ShardId;
use super::shard_exec::{ShardMode, ShardStore, TsqShardExec};

/// Encodes and decodes [`TsqShardExec`]; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct TsqCodec {
    store: Option<ShardStore>,
}

impl TsqCodec {
    /// The coordinator's codec (no store).
    pub fn coordinator() -> Self {
        TsqCodec { store: None }
    }

    /// A worker's codec: decoded nodes run on `store`.
    pub fn worker(store: ShardStore) -> Self {
        TsqCodec { store: Some(store) }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct TsqShardExecProto {
    #[prost(string, tag = "1")]
    sql: String,
    #[prost(uint32, optional, tag = "3")]
    shard: Option<u32>,
    /// The cluster's catalog ([`ShardCatalog::encode`]) of a partial step;
    /// absent for `Describe`.
    #[prost(bytes = "vec", optional, tag = "5")]
    catalog: Option<Vec<u8>>,
}

impl PhysicalExtensionCodec for TsqCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return Err(DataFusionError::Internal(format!(
                "TsqShardExec is a leaf, decoded with {} inputs",
                inputs.len()
            )));
        }
        let proto = TsqShardExecProto::decode(buf)
            .map_err(|e| DataFusionError::Internal(format!("decoding TsqShardExec: {e}")))?;
        let mode = match proto.catalog {
            None => ShardMode::Describe,
            Some(bytes) => ShardMode::Partial(Arc::new(ShardCatalog::decode(&bytes)?)),
        };
        Ok(Arc::new(TsqShardExec::new(
            &proto.sql,
            mode,
            proto.shard.map(ShardId),
            self.store.clone(),
        )))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some(exec) = node.downcast_ref::<TsqShardExec>() else {
            return Err(DataFusionError::Internal(format!(
                "TsqCodec encodes TsqShardExec, got {}",
                node.name()
            )));
        };
        let proto = TsqShardExecProto {
            sql: exec.sql().to_string(),
            shard: exec.shard().map(|s| s.0),
            catalog: match exec.mode() {
                ShardMode::Describe => None,
                ShardMode::Partial(c) => Some(c.encode()),
            },
        };
        proto
            .encode(buf)
            .map_err(|e| DataFusionError::Internal(format!("encoding TsqShardExec: {e}")))
    }
}
